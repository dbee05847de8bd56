SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{973}'::bigint[]) AND iccid > '8949010000001105525' ORDER BY iccid LIMIT 50;
