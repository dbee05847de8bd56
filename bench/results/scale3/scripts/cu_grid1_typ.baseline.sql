SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{100307}'::bigint[]) ORDER BY iccid LIMIT 50;
