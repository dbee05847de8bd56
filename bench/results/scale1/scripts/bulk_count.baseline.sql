SELECT count(*) FROM cmp.sim_card WHERE account_id = 1001;
