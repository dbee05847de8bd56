SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{99139}'::bigint[]) ORDER BY iccid LIMIT 50;
