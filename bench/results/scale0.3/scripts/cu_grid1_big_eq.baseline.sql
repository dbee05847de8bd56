SELECT * FROM cmp.sim_grid WHERE customer_id = 29231 ORDER BY iccid LIMIT 50;
