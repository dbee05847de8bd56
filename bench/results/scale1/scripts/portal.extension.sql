\set i random(1, 2000)
BEGIN;
SELECT user_id AS u, customer_id AS c FROM bench.portal WHERE i = :i \gset
SELECT cmp.set_actor(:u);
SELECT * FROM cmp.sim_grid ORDER BY iccid LIMIT 50;
COMMIT;
