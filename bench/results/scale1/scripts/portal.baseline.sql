\set i random(1, 2000)
BEGIN;
SELECT user_id AS u, customer_id AS c FROM bench.portal WHERE i = :i \gset
SELECT set_config('app.user_id', :u::text, true);
SELECT * FROM cmp.sim_grid WHERE customer_id = :c ORDER BY iccid LIMIT 50;
COMMIT;
