SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{29231}'::bigint[]) ORDER BY iccid LIMIT 50;
