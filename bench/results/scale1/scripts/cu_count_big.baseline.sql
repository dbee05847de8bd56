SELECT count(*) FROM cmp.sim_card WHERE customer_id = ANY ('{99139}'::bigint[]);
