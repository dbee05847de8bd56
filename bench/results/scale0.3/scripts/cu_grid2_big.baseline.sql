SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{29231}'::bigint[]) AND iccid > '8949010000028803789' ORDER BY iccid LIMIT 50;
