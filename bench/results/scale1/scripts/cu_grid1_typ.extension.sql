SELECT * FROM cmp.sim_grid ORDER BY iccid LIMIT 50;
