SELECT * FROM cmp.sim_grid WHERE customer_id = 973 AND iccid > '8949010000001105525' ORDER BY iccid LIMIT 50;
