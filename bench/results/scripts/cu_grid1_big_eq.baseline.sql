SELECT * FROM cmp.sim_grid WHERE customer_id = 973 ORDER BY iccid LIMIT 50;
