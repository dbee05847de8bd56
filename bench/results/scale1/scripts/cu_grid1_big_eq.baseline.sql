SELECT * FROM cmp.sim_grid WHERE customer_id = 99139 ORDER BY iccid LIMIT 50;
