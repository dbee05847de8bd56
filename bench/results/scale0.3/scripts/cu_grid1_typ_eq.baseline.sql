SELECT * FROM cmp.sim_grid WHERE customer_id = 10171 ORDER BY iccid LIMIT 50;
