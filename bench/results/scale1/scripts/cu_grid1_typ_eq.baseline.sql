SELECT * FROM cmp.sim_grid WHERE customer_id = 10192 ORDER BY iccid LIMIT 50;
