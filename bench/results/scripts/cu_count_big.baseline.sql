SELECT count(*) FROM cmp.sim_card WHERE customer_id = ANY ('{973}'::bigint[]);
