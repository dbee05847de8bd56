SELECT * FROM cmp.sim_grid WHERE customer_id = 299223 ORDER BY iccid LIMIT 50;
