SELECT count(*) FROM cmp.sim_card;
