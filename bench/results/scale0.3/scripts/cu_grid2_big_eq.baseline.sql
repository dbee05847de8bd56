SELECT * FROM cmp.sim_grid WHERE customer_id = 29231 AND iccid > '8949010000028803789' ORDER BY iccid LIMIT 50;
