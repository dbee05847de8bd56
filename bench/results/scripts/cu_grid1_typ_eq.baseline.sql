SELECT * FROM cmp.sim_grid WHERE customer_id = 1079 ORDER BY iccid LIMIT 50;
