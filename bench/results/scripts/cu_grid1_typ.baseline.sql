SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{1079}'::bigint[]) ORDER BY iccid LIMIT 50;
