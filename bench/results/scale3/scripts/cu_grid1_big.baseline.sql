SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{299223}'::bigint[]) ORDER BY iccid LIMIT 50;
