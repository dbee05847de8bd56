SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{10192}'::bigint[]) ORDER BY iccid LIMIT 50;
