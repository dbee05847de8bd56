SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{299223}'::bigint[]) AND iccid > '8949010000299090827' ORDER BY iccid LIMIT 50;
