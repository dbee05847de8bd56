SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{99139}'::bigint[]) AND iccid > '8949010000099031617' ORDER BY iccid LIMIT 50;
