SELECT count(*) FROM cmp.sim_card WHERE customer_id = ANY ('{10192}'::bigint[]);
