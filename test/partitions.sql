-- Time partitions (SPEC §14): cmp.sim_assignment_history_data, cmp.audit_log
-- and cmp.event are partitioned by month (UTC); pg_temp.maintain()
-- creates months ahead, moves rows out of the default partitions and
-- retires months past their retention with DETACH + DROP.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.  Everything happens in one
-- transaction that is rolled back.  Old rows are written by hand (as the
-- superuser, with old timestamps) into the parents, so that they land in
-- the default partitions as 1.0's rows do after an upgrade.

BEGIN;
SELECT plan(45);

SET client_min_messages = warning;
-- months are UTC months whatever the session's time zone
SET TimeZone = 'Pacific/Kiritimati';

CREATE ROLE ro_part_app NOLOGIN;
CREATE ROLE ro_part_sched NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_part_app;

\ir fixtures/luhn.sql
CREATE FUNCTION pg_temp.iccid(n integer) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
	SELECT pg_temp.luhn('89493100' || lpad(n::text, 10, '0'))
$$;

-- the partitions of a table, as 'name' in order
CREATE FUNCTION pg_temp.parts(parent regclass) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(c.relname::text, ' ' ORDER BY c.relname), '')
	  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	 WHERE i.inhparent = parent
$$;
-- the month (UTC) n months from now, as YYYY_MM
CREATE FUNCTION pg_temp.mon(n integer) RETURNS text LANGUAGE sql AS $$
	SELECT to_char((date_trunc('month', now() AT TIME ZONE 'UTC') + n * interval '1 month'), 'YYYY_MM')
$$;

-- cmp.maintain_partition for the three tables, as CALL cmp.maintain_partitions
-- does it (which commits after each table, so it cannot run in this file's
-- transaction; test/suites/retention.sh calls it)
CREATE FUNCTION pg_temp.maintain(months_ahead integer DEFAULT 3, keep_history interval DEFAULT NULL,
		keep_audit interval DEFAULT NULL, keep_events interval DEFAULT NULL)
	RETURNS TABLE (table_name text, partition_name text, action text, moved_rows bigint)
	LANGUAGE sql AS $$
	SELECT t.tab::text, r.* FROM (VALUES (1, 'cmp.sim_assignment_history_data'::regclass, keep_history),
	                                    (2, 'cmp.audit_log'::regclass, keep_audit),
	                                    (3, 'cmp.event'::regclass, keep_events)) AS t (n, tab, keep),
	       cmp.maintain_partition(t.tab, months_ahead, t.keep) AS r
$$;

-- ---- structure -------------------------------------------------------------

SELECT is(
	(SELECT string_agg(c.relname || ':' || pg_get_partkeydef(c.oid), ' ' ORDER BY c.relname)
	   FROM pg_class c WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind = 'p'),
	'audit_log:RANGE (occurred_at) event:RANGE (occurred_at) sim_assignment_history_data:RANGE (changed_at)',
	'the three growing tables are partitioned by range of their time');
SELECT is(pg_temp.parts('cmp.audit_log'), 'audit_log_default',
	'a new installation has only the default partition of the audit log');
SELECT is(pg_temp.parts('cmp.sim_assignment_history_data') || ' ' || pg_temp.parts('cmp.event'),
	'sim_assignment_history_default event_default',
	'and of the SIM history and the events');
SELECT ok(NOT has_function_privilege('ro_part_app', 'cmp.maintain_partitions(integer, interval, interval, interval)', 'EXECUTE')
	AND NOT has_function_privilege('ro_part_app', 'cmp.maintain_partition(regclass, integer, interval)', 'EXECUTE'),
	'cmp.maintain_partitions and cmp.maintain_partition are not granted to PUBLIC');

-- ---- fixture: one reseller, a customer, SIMs; rows of the current month --

SELECT cmp.create_account(account_number => 'RO-PART-R', name => 'Part Reseller',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_account(account_number => 'RO-PART-O', name => 'Part Other',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS other \gset
SELECT cmp.create_user(login => 'part_acc', email => 'part.acc@example.com',
	context_level => 'ACCOUNT', account_id => :acct, is_admin => true) AS acc \gset
SELECT cmp.provision_sims(account_id => :acct,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 4) AS n)) \g /dev/null
SELECT cmp.set_actor(:acc);
SELECT cmp.create_customer(account_id => :acct, name => 'Part One', status => 'ACTIVE',
	admin_login => 'part_ad1', admin_email => 'part.ad1@example.com') AS c1 \gset
SELECT cmp.assign_sims(:c1, ARRAY[pg_temp.iccid(1), pg_temp.iccid(2)]) \g /dev/null
SET CONSTRAINTS cmp.event_commit IMMEDIATE;
SELECT cmp.set_customer_status(:c1, 'SUSPENDED', 'partition test') \g /dev/null
SELECT cmp.clear_actor();

SELECT count(*) AS audit_now FROM cmp.audit_log \gset
SELECT count(*) AS hist_now FROM cmp.sim_assignment_history_data \gset
SELECT count(*) AS events_now FROM cmp.event \gset
SELECT ok(:audit_now > 0 AND :hist_now = 2 AND :events_now > 0,
	'the calls wrote audit rows, two history rows and events');
SELECT is(
	(SELECT string_agg(DISTINCT tableoid::regclass::text, ' ') FROM cmp.audit_log),
	'cmp.audit_log_default', 'with no month created, rows land in the default partition');

-- Old rows, as an upgrade from 1.0 leaves them: 14 and 13 months ago.
INSERT INTO cmp.audit_log (occurred_at, db_role, operation, resource_type, account_id)
SELECT date_trunc('month', now()) - m * interval '1 month' + interval '3 days', 'old', 'old_op', 'customer', :acct
  FROM generate_series(13, 14) AS m, generate_series(1, 5);
INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, to_customer_id, changed_at)
SELECT pg_temp.iccid(3), :acct, :c1, date_trunc('month', now()) - interval '13 months' + interval '1 day';
INSERT INTO cmp.event (event_id, occurred_at, event_type, account_id, resource_type, payload)
SELECT -n, date_trunc('month', now()) - interval '13 months' + interval '2 days', 'customer.updated', :acct, 'customer', '{}'
  FROM generate_series(1, 3) AS n;

-- ---- first maintenance -----------------------------------------------------

SELECT throws_ok($$SELECT * FROM cmp.maintain_partition('cmp.audit_log', months_ahead => -1)$$, '22023', NULL,
	'months_ahead below 0 is refused (22023)');
SELECT throws_ok($$SELECT * FROM cmp.maintain_partition('cmp.audit_log', months_ahead => 121)$$, '22023', NULL,
	'months_ahead above 120 is refused (22023)');
SELECT throws_ok($$SELECT * FROM cmp.maintain_partition('cmp.audit_log', keep => '-1 day')$$, '22023', NULL,
	'a negative retention is refused (22023)');
SELECT throws_ok($$SELECT * FROM cmp.maintain_partition('cmp.audit_log', keep => '1001 years')$$, '22023', NULL,
	'a retention beyond 1000 years is refused (22023), not 22008 from the date arithmetic');
SELECT throws_ok($$SELECT * FROM cmp.maintain_partition('cmp.sim_card')$$, '22023', NULL,
	'a table that is not one of the three is refused (22023)');
SELECT is(pg_temp.parts('cmp.audit_log'), 'audit_log_default', 'a refused call created nothing');

CREATE TEMP TABLE did AS SELECT * FROM pg_temp.maintain(months_ahead => 2);
SELECT is(
	(SELECT string_agg(partition_name || ':' || action || ':' || moved_rows, ' ' ORDER BY table_name, partition_name)
	   FROM did WHERE table_name = 'cmp.audit_log'),
	format('audit_log_p%s:created:5 audit_log_p%s:created:5 audit_log_p%s:created:%s audit_log_p%s:created:0 audit_log_p%s:created:0',
		pg_temp.mon(-14), pg_temp.mon(-13), pg_temp.mon(0), :audit_now, pg_temp.mon(1), pg_temp.mon(2)),
	'it creates the months of the rows in the default partition and the current month to two ahead, moving every row');
SELECT is(pg_temp.parts('cmp.audit_log'),
	format('audit_log_default audit_log_p%s audit_log_p%s audit_log_p%s audit_log_p%s audit_log_p%s',
		pg_temp.mon(-14), pg_temp.mon(-13), pg_temp.mon(0), pg_temp.mon(1), pg_temp.mon(2)),
	'the audit log has those months as partitions');
SELECT is((SELECT count(*) FROM ONLY cmp.audit_log_default), 0::bigint, 'the default partition is empty');
SELECT is((SELECT count(*) FROM cmp.audit_log), (:audit_now + 10)::bigint, 'no audit row lost or doubled');
SELECT is(
	(SELECT count(*) FROM cmp.audit_log WHERE tableoid = format('cmp.audit_log_p%s', pg_temp.mon(0))::regclass),
	:audit_now::bigint, 'the current rows are in the current month');
SELECT is(
	(SELECT string_agg(partition_name || ':' || moved_rows, ' ' ORDER BY partition_name)
	   FROM did WHERE table_name = 'cmp.sim_assignment_history_data'),
	format('sim_assignment_history_p%s:1 sim_assignment_history_p%s:2 sim_assignment_history_p%s:0 sim_assignment_history_p%s:0',
		pg_temp.mon(-13), pg_temp.mon(0), pg_temp.mon(1), pg_temp.mon(2)),
	'the SIM history: the old row and the two current ones moved');
SELECT is(
	(SELECT string_agg(partition_name || ':' || moved_rows, ' ' ORDER BY partition_name)
	   FROM did WHERE table_name = 'cmp.event'),
	format('event_p%s:3 event_p%s:%s event_p%s:0 event_p%s:0',
		pg_temp.mon(-13), pg_temp.mon(0), :events_now, pg_temp.mon(1), pg_temp.mon(2)),
	'the events: the old ones and the current ones moved');

-- what a new month is
SELECT is(
	(SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c
	  WHERE c.oid = format('cmp.audit_log_p%s', pg_temp.mon(0))::regclass),
	format('FOR VALUES FROM (%L) TO (%L)',
		(date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')::text,
		((date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC')::text),
	'a month runs from its first day 00:00 UTC to the next month''s, whatever the session''s time zone');
SELECT is_empty(
	$$SELECT c.oid::regclass FROM pg_class c
	   WHERE c.relnamespace = 'cmp'::regnamespace AND c.relispartition AND c.relkind = 'r'
	     AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity
	          OR c.relowner <> (SELECT relowner FROM pg_class WHERE oid = 'cmp.audit_log'::regclass)
	          OR EXISTS (SELECT FROM aclexplode(c.relacl) AS a WHERE a.grantee <> c.relowner)
	          OR EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid))$$,
	'every month has row-level security enabled and forced, no policy, no privilege for another role, the owner of its table');
SELECT is_empty(
	$$SELECT c.oid::regclass FROM pg_class c
	   WHERE c.relnamespace = 'cmp'::regnamespace AND c.relispartition AND c.relkind = 'r'
	     AND c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
	     AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
	                   AND d.objid = c.oid AND d.deptype = 'e')$$,
	'months are not members of the extension (pg_dump writes them and their rows like any table)');
SELECT is(
	(SELECT count(*) FROM did d WHERE d.action = 'created'), 13::bigint,
	'thirteen partitions created in all (5 + 4 + 4)');
SELECT is(
	(SELECT count(*) FROM pg_temp.maintain(months_ahead => 2)), 0::bigint,
	'a second call with nothing to do does nothing');
SELECT is(
	(SELECT string_agg(partition_name, ' ' ORDER BY partition_name)
	   FROM pg_temp.maintain(months_ahead => 3) WHERE table_name = 'cmp.audit_log'),
	format('audit_log_p%s', pg_temp.mon(3)), 'a larger months_ahead adds the missing month only');

-- ---- the same reads through the parents ------------------------------------

SELECT count(*) AS audit_acct FROM cmp.audit_log WHERE account_id = :acct \gset
SELECT count(*) AS events_acct FROM cmp.event WHERE account_id = :acct \gset
SET ROLE ro_part_app;
SELECT cmp.set_actor(:acc);
SELECT is((SELECT count(*) FROM cmp.audit_log), :audit_acct::bigint,
	'the ACCOUNT user reads its account''s audit rows of every month through the parent');
SELECT is((SELECT count(*) FROM cmp.sim_assignment_history), 3::bigint,
	'and its SIM history');
SELECT is((SELECT count(*) FROM cmp.event), :events_acct::bigint,
	'and its events');
SELECT throws_ok(format('SELECT count(*) FROM cmp.audit_log_p%s', pg_temp.mon(0)), '42501', NULL,
	'a month cannot be read directly');
SELECT throws_ok('SELECT count(*) FROM cmp.audit_log_default', '42501', NULL,
	'nor the default partition');
SELECT throws_ok($$SELECT * FROM cmp.maintain_partition('cmp.audit_log')$$, '42501', NULL,
	'an application role cannot maintain the partitions');
SELECT throws_ok($$CALL cmp.maintain_partitions()$$, '42501', NULL,
	'nor call the procedure');
SELECT cmp.clear_actor();
RESET ROLE;
SELECT ok(:audit_acct < (SELECT count(*) FROM cmp.audit_log),
	'(control: the superuser reads more audit rows, the other account''s among them)');

-- ---- new rows go to their month ---------------------------------------------

SELECT cmp.set_actor(:acc);
SELECT cmp.set_customer_status(:c1, 'ACTIVE', 'partition test') \g /dev/null
SELECT cmp.assign_sims(:c1, ARRAY[pg_temp.iccid(4)]) \g /dev/null
SELECT cmp.clear_actor();
SELECT is(
	(SELECT string_agg(DISTINCT tableoid::regclass::text, ' ') FROM cmp.audit_log WHERE occurred_at >= date_trunc('month', now())),
	format('cmp.audit_log_p%s', pg_temp.mon(0)),
	'new audit rows go to the current month');
SELECT is((SELECT count(*) FROM ONLY cmp.sim_assignment_history_default), 0::bigint,
	'no new history row in the default partition');
SELECT is((SELECT count(*) FROM ONLY cmp.event_default), 0::bigint,
	'no new event in the default partition');

-- ---- retention ---------------------------------------------------------------

-- a consumer that has not read the old events holds their month back
SELECT cmp.create_event_consumer('part_billing') \g /dev/null
UPDATE cmp.event_consumer SET acked_event_id = -100 WHERE name = 'part_billing';

SELECT count(*) AS audit_cur FROM cmp.audit_log WHERE occurred_at >= date_trunc('month', now()) \gset
SELECT count(*) AS events_cur FROM cmp.event WHERE occurred_at >= date_trunc('month', now()) \gset
CREATE TEMP TABLE ret AS SELECT * FROM pg_temp.maintain(months_ahead => 3,
	keep_history => '13 months', keep_audit => '13 months', keep_events => '1 year');
SELECT is(
	(SELECT string_agg(table_name || ' ' || partition_name || ' ' || action, ', ' ORDER BY table_name, partition_name) FROM ret),
	format('cmp.audit_log audit_log_p%s retired, cmp.event event_p%s kept: not acknowledged by every consumer',
		pg_temp.mon(-14), pg_temp.mon(-13)),
	'a month is retired once its end is older than the retention; events wait for every consumer');
SELECT is(pg_temp.parts('cmp.audit_log'),
	format('audit_log_default audit_log_p%s audit_log_p%s audit_log_p%s audit_log_p%s audit_log_p%s',
		pg_temp.mon(-13), pg_temp.mon(0), pg_temp.mon(1), pg_temp.mon(2), pg_temp.mon(3)),
	'the retired month is gone (detached and dropped), the others stay');
SELECT is((SELECT count(*) FROM cmp.audit_log WHERE occurred_at < date_trunc('month', now()) - interval '13 months'),
	0::bigint, 'its rows are gone with it');
SELECT is((SELECT count(*) FROM cmp.audit_log WHERE occurred_at >= date_trunc('month', now())),
	:audit_cur::bigint, 'every row of the current month is kept');
SELECT ok(NOT EXISTS (SELECT FROM pg_class WHERE relname = 'audit_log_p' || pg_temp.mon(-14)),
	'no detached table is left behind');

UPDATE cmp.event_consumer SET acked_event_id = 0 WHERE name = 'part_billing';
SELECT is(
	(SELECT string_agg(partition_name || ' ' || action, ', ') FROM pg_temp.maintain(months_ahead => 3,
		keep_events => '1 year')),
	format('event_p%s retired', pg_temp.mon(-13)),
	'once every consumer has acknowledged them, the old events'' month is retired');
SELECT is((SELECT count(*) FROM cmp.event), :events_cur::bigint,
	'the current month''s events are all there');
SELECT is(
	(SELECT count(*) FROM pg_temp.maintain(months_ahead => 3, keep_history => '0 seconds',
		keep_audit => '0 seconds', keep_events => '0 seconds') WHERE partition_name LIKE '%' || pg_temp.mon(0)),
	0::bigint, 'the current month is never retired, even with a retention of zero');
SELECT is((SELECT count(*) FROM cmp.audit_log), :audit_cur::bigint,
	'a retention of zero keeps exactly the current month''s rows');

SELECT * FROM finish();
ROLLBACK;
