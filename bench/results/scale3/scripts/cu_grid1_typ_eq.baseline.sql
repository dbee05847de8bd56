SELECT * FROM cmp.sim_grid WHERE customer_id = 100307 ORDER BY iccid LIMIT 50;
