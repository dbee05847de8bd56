-- Bulk SIM requests (SPEC §13, with §5, §6, §7, §8, §11): assign_sim_range
-- and assign_free_sims, what they move, their history, audit row and event,
-- their refusals and who may call them.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed.  Everything happens in one transaction that is rolled back.
--
-- Actors: the superuser with no actor is the system actor and builds the
-- fixtures; CMP users act through the non-superuser role ro_t_bulk_app, so
-- that row-level security applies to them.  What a call wrote is read past
-- row-level security by SECURITY DEFINER helpers.
--
-- Events reach cmp.event only when their transaction commits (the deferred
-- constraint trigger cmp.event_commit); this file never commits, so it sets
-- that trigger IMMEDIATE after the fixtures and reads each call's event in
-- cmp.event at the end of the call's statement.
--
-- ICCIDs of the fixture (all of account A1 unless said otherwise):
--   t.iccid(n)    19 digits, prefix 8949: n = 1..60 (A1), 101..105 (A2)
--   t.iccid20(n)  20 digits, prefix 8949: n = 50..54; as text they lie
--                 between t.iccid(1) and t.iccid(10), so only the rule
--                 "same number of digits as the bounds" keeps them out of a
--                 19-digit range
--   t.iccidp(n)   19 digits, prefix 8933: n = 1..5; the lowest ICCIDs of A1

BEGIN;
SELECT plan(105);

-- ---- helpers ---------------------------------------------------------------

CREATE ROLE ro_t_bulk_app NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_t_bulk_app;
CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO ro_t_bulk_app;

-- Ids by name, read past row-level security (users from the table behind
-- the masking view), so that a test can name an object its actor cannot see.
CREATE FUNCTION t.aid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT account_id FROM cmp.account WHERE account_number = $1$$;
CREATE FUNCTION t.uid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT user_id FROM cmp.app_user_data WHERE login = $1$$;
CREATE FUNCTION t.cid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT customer_id FROM cmp.customer WHERE name = $1$$;

\ir fixtures/luhn.sql
CREATE FUNCTION t.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))
$$;
CREATE FUNCTION t.iccid20(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('8949' || lpad(n::text, 15, '0'))
$$;
CREATE FUNCTION t.iccidp(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('8933' || lpad(n::text, 14, '0'))
$$;
CREATE FUNCTION t.iccids(lo bigint, hi bigint) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(t.iccid(i) ORDER BY i) FROM generate_series(lo, hi) AS i
$$;
-- range bounds around SIMs lo..hi that are not ICCIDs themselves (the
-- check digit of a bound is not checked): 18 digits of the SIM, then 0 or 9
CREATE FUNCTION t.lo(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT left(t.iccid(n), 18) || '0'
$$;
CREATE FUNCTION t.hi(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT left(t.iccid(n), 18) || '9'
$$;

-- The truth, read past row-level security.
-- the customer holding a SIM ("-": none)
CREATE FUNCTION t.holder(iccid text) RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT coalesce(c.name, '-') FROM cmp.sim_card s
	       LEFT JOIN cmp.customer c ON c.customer_id = s.customer_id
	      WHERE s.iccid = $1$$;
CREATE FUNCTION t.holders(iccids text[]) RETURNS text[] LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT array_agg(t.holder(i) ORDER BY o) FROM unnest($1) WITH ORDINALITY AS u(i, o)$$;
-- the moves of one SIM, oldest first: "-" is no customer
CREATE FUNCTION t.history(iccid text) RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT coalesce(string_agg(coalesce(f.name, '-') || '>' || coalesce(o.name, '-'), ' '
	                                ORDER BY h.history_id), '')
	       FROM cmp.sim_assignment_history_data h
	       LEFT JOIN cmp.customer f ON f.customer_id = h.from_customer_id
	       LEFT JOIN cmp.customer o ON o.customer_id = h.to_customer_id
	      WHERE h.iccid = $1$$;
CREATE FUNCTION t.histories(iccids text[]) RETURNS text[] LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT array_agg(t.history(i) ORDER BY o) FROM unnest($1) WITH ORDINALITY AS u(i, o)$$;
CREATE FUNCTION t.audits(op text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT count(*) FROM cmp.audit_log WHERE operation = $1$$;
-- the newest audit row of an operation, and the event written with it
CREATE FUNCTION t.last_audit(op text) RETURNS cmp.audit_log LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT * FROM cmp.audit_log WHERE operation = $1 ORDER BY event_id DESC LIMIT 1$$;
CREATE FUNCTION t.event_of(audit_event_id bigint) RETURNS SETOF cmp.event LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT * FROM cmp.event WHERE (payload ->> 'audit_event_id')::bigint = $1$$;
CREATE FUNCTION t.sim_events() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT count(*) FROM cmp.event WHERE event_type = 'sims.assigned'$$;
CREATE FUNCTION t.free(account text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT count(*) FROM cmp.sim_card WHERE account_id = t.aid($1) AND customer_id IS NULL$$;
-- everything a SIM call may change, as one value to compare before and after
CREATE FUNCTION t.state() RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT format('sims=[%s] assigned_at=%s history=%s audit=%s events=%s',
	                   (SELECT string_agg(iccid || ':' || coalesce(customer_id::text, '-'), ',' ORDER BY iccid)
	                      FROM cmp.sim_card),
	                   (SELECT count(*) FROM cmp.sim_card WHERE assigned_at IS NOT NULL),
	                   (SELECT count(*) FROM cmp.sim_assignment_history_data),
	                   (SELECT count(*) FROM cmp.audit_log),
	                   (SELECT count(*) FROM cmp.event))$$;

-- The error a statement raises: {sqlstate, message, detail, hint}; NULL if none.
CREATE FUNCTION t.err(sql text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	hin text;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
		hin = PG_EXCEPTION_HINT;
	RETURN ARRAY[st, msg, det, hin];
END $$;

-- Switching actors.  The actor is set for the session (is_local => false)
-- so that it survives pgTAP's own statements; the transaction undoes it.
CREATE FUNCTION t.act(login text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
	SET ROLE ro_t_bulk_app;
	PERFORM cmp.set_actor(t.uid(login), false);
END $$;
CREATE FUNCTION t.nobody() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
	SET ROLE ro_t_bulk_app;
END $$;
CREATE FUNCTION t.system() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
END $$;

-- ---- fixtures (system actor) -----------------------------------------------

SELECT t.system();
DO $fixtures$
BEGIN
	PERFORM cmp.create_account('A1', 'Reseller One', 'RESELLER', true, 'PDF', 1);
	PERFORM cmp.create_account('A2', 'Standard Two');
	PERFORM cmp.create_user('csp1', 'csp1@example.com', 'CSP');
	PERFORM cmp.create_user('acc1', 'acc1@example.com', 'ACCOUNT', t.aid('A1'));
	PERFORM cmp.create_user('acc2', 'acc2@example.com', 'ACCOUNT', t.aid('A2'));
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C1', status => 'ACTIVE',
		admin_login => 'adm1', admin_email => 'adm1@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C2', status => 'ACTIVE',
		admin_login => 'adm2', admin_email => 'adm2@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C3', status => 'ACTIVE',
		admin_login => 'adm3', admin_email => 'adm3@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C Draft');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C Susp', status => 'ACTIVE',
		admin_login => 'admS', admin_email => 'admS@example.com');
	PERFORM cmp.set_customer_status(t.cid('C Susp'), 'SUSPENDED');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C Term');
	PERFORM cmp.set_customer_status(t.cid('C Term'), 'TERMINATED');
	PERFORM cmp.create_customer(account_id => t.aid('A2'), name => 'D1', status => 'ACTIVE',
		admin_login => 'admD', admin_email => 'admD@example.com');
	PERFORM cmp.create_customer_user(ARRAY[t.cid('C1')], 'cu1', 'cu1@example.com');
	PERFORM cmp.provision_sims(t.aid('A1'), t.iccids(1, 60));
	PERFORM cmp.provision_sims(t.aid('A1'), ARRAY(SELECT t.iccid20(i) FROM generate_series(50, 54) AS i));
	PERFORM cmp.provision_sims(t.aid('A1'), ARRAY(SELECT t.iccidp(i) FROM generate_series(1, 5) AS i));
	PERFORM cmp.provision_sims(t.aid('A2'), t.iccids(101, 105));
END
$fixtures$;

SELECT is(
	(SELECT bool_and(cmp.iccid_is_valid(i))
	   FROM unnest(t.iccids(1, 60) || t.iccids(101, 105)
	               || ARRAY(SELECT t.iccid20(i) FROM generate_series(50, 54) AS i)
	               || ARRAY(SELECT t.iccidp(i) FROM generate_series(1, 5) AS i)) AS i),
	true, 'fixtures: generated ICCIDs are valid');
SELECT ok(
	(SELECT bool_and(length(t.iccid20(i)) = 20 AND t.iccid20(i) > t.iccid(1) AND t.iccid20(i) < t.iccid(10))
	   FROM generate_series(50, 54) AS i),
	'fixtures: the 20-digit SIMs lie between t.iccid(1) and t.iccid(10) as text');
SELECT ok(NOT cmp.iccid_is_valid(t.lo(1)) AND length(t.lo(1)) = 19,
	'fixtures: the lower bound used below has 19 digits but no valid check digit');

SET CONSTRAINTS cmp.event_commit IMMEDIATE;

-- ---- assign_sim_range: what it does ----------------------------------------

SELECT t.act('acc1');
SELECT is(cmp.assign_sim_range(t.cid('C1'), t.lo(1), t.hi(10)), 10::bigint,
	'assign_sim_range: an ACCOUNT user assigns every SIM of the range and gets the count');
SELECT is(t.holders(t.iccids(1, 10)), array_fill('C1'::text, ARRAY[10]),
	'assign_sim_range: each SIM of the range is on the customer');
SELECT is(t.holders(ARRAY[t.iccid(11)] || ARRAY(SELECT t.iccid20(i) FROM generate_series(50, 54) AS i)),
	array_fill('-'::text, ARRAY[6]),
	'assign_sim_range: a SIM after the range, and 20-digit SIMs that sort inside a 19-digit range, stay free');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card
	  WHERE iccid = ANY (t.iccids(1, 10)) AND assigned_at IS NOT NULL AND account_id = t.aid('A1')),
	10::bigint,
	'assign_sim_range: the SIMs stay in their account and get an assigned_at');
SELECT is(t.histories(t.iccids(1, 10)), array_fill('->C1'::text, ARRAY[10]),
	'assign_sim_range: one history row per moved SIM, from no customer to the customer');
SELECT is(
	(SELECT count(*) FROM cmp.sim_assignment_history
	  WHERE iccid = ANY (t.iccids(1, 10)) AND changed_by = t.uid('acc1') AND account_id = t.aid('A1')),
	10::bigint,
	'assign_sim_range: the history rows record the account and the acting user');
SELECT is(t.audits('assign_sim_range'), 1::bigint,
	'assign_sim_range: one audit row for the whole call');
SELECT results_eq(
	$$SELECT a.actor_user_id, a.resource_type, a.account_id, a.customer_id, a.new_value
	    FROM t.last_audit('assign_sim_range') AS a$$,
	$$SELECT t.uid('acc1'), 'sim'::text, t.aid('A1'), t.cid('C1'),
	         jsonb_build_object('assigned', 10, 'first_iccid', t.lo(1), 'last_iccid', t.hi(10),
	                            'reassign', false)$$,
	'assign_sim_range: the audit row names the actor, the account, the customer, the count and the range');
SELECT is(t.sim_events(), 1::bigint,
	'assign_sim_range: one sims.assigned event for the whole call');
SELECT results_eq(
	$$SELECT e.event_type, e.account_id, e.customer_id, e.actor_user_id,
	         e.payload -> 'iccids', e.payload -> 'from_customer_ids', e.payload -> 'new'
	    FROM t.event_of((t.last_audit('assign_sim_range')).event_id) AS e$$,
	$$SELECT 'sims.assigned'::text, t.aid('A1'), t.cid('C1'), t.uid('acc1'),
	         to_jsonb(t.iccids(1, 10)), '[]'::jsonb, (t.last_audit('assign_sim_range')).new_value$$,
	'assign_sim_range: the event is written with the audit row and lists the moved ICCIDs in order');

SELECT is(cmp.assign_sim_range(t.cid('C1'), t.iccid(5), t.iccid(15)), 5::bigint,
	'assign_sim_range: SIMs of the range already on the customer are not counted');
SELECT is(t.histories(ARRAY[t.iccid(5), t.iccid(15)]), ARRAY['->C1', '->C1'],
	'assign_sim_range: a SIM already on the customer gets no second history row');
SELECT is(
	(SELECT e.payload -> 'iccids' FROM t.event_of((t.last_audit('assign_sim_range')).event_id) AS e),
	to_jsonb(t.iccids(11, 15)),
	'assign_sim_range: the event lists only the SIMs that moved');
SELECT is(cmp.assign_sim_range(t.cid('C1'), t.lo(1), t.hi(15)), 0::bigint,
	'assign_sim_range: repeating a range already assigned returns 0');
SELECT is(ARRAY[t.audits('assign_sim_range'), t.sim_events()], ARRAY[2, 2]::bigint[],
	'assign_sim_range: a call that moved nothing writes no audit row and no event');
SELECT is(t.history(t.iccid(1)), '->C1',
	'assign_sim_range: a repeated range writes no history row');

SELECT is(cmp.assign_sim_range(t.cid('C Draft'), t.iccid(16), t.iccid(16)), 1::bigint,
	'assign_sim_range: a DRAFT customer receives a range of one SIM (first = last)');
SELECT is(cmp.assign_sim_range(t.cid('C2'), '89490000000000000000', '89490000000000009999'), 5::bigint,
	'assign_sim_range: 20-digit bounds take the 20-digit SIMs');
SELECT is(t.holders(ARRAY(SELECT t.iccid20(i) FROM generate_series(50, 54) AS i) || t.iccid(17)),
	ARRAY['C2', 'C2', 'C2', 'C2', 'C2', '-'],
	'assign_sim_range: ... and no 19-digit SIM that sorts inside the 20-digit range');

-- on another customer: refused, or moved with reassign
SELECT t.system();
CREATE TEMP TABLE before_other ON COMMIT DROP AS SELECT t.state() AS s;
GRANT SELECT ON before_other TO ro_t_bulk_app;
SELECT t.act('acc1');
CREATE TEMP TABLE other_err ON COMMIT DROP AS
SELECT t.err(format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C2'), t.iccid(8), t.iccid(20))) AS e;
SELECT is((SELECT e[1] FROM other_err), '55000',
	'assign_sim_range: SIMs of the range on another customer are 55000 without reassign');
SELECT ok((SELECT e[2] ~ '\m9\M' AND strpos(e[3], t.iccid(8)) > 0 AND strpos(e[3], t.iccid(16)) > 0
	              AND strpos(e[3], t.iccid(17)) = 0 AND e[4] IS NOT NULL
	         FROM other_err),
	'assign_sim_range: the refusal says how many (9), names them (not the free ones) and hints at reassign');
SELECT t.system();
SELECT is(t.state(), (SELECT s FROM before_other),
	'assign_sim_range: the refused range moved none of its free SIMs (all or nothing)');

SELECT t.act('acc1');
SELECT is(cmp.assign_sim_range(t.cid('C2'), t.iccid(8), t.iccid(20), reassign => true), 13::bigint,
	'assign_sim_range: with reassign the SIMs on other customers move too, and the free ones');
SELECT is(t.holders(t.iccids(7, 21)), ARRAY['C1'] || array_fill('C2'::text, ARRAY[13]) || ARRAY['-'],
	'assign_sim_range: with reassign the whole range is on the new customer');
SELECT is(t.histories(ARRAY[t.iccid(8), t.iccid(15), t.iccid(16), t.iccid(17)]),
	ARRAY['->C1 C1>C2', '->C1 C1>C2', '->C Draft C Draft>C2', '->C2'],
	'assign_sim_range: with reassign the history records the customer each SIM came from');
SELECT is(
	(SELECT count(*) FROM cmp.sim_assignment_history
	  WHERE iccid = ANY (t.iccids(8, 20)) AND to_customer_id = t.cid('C2')
	    AND from_customer_id IS NOT DISTINCT FROM
	        CASE WHEN iccid = ANY (t.iccids(8, 15)) THEN t.cid('C1')
	             WHEN iccid = t.iccid(16) THEN t.cid('C Draft') END),
	13::bigint,
	'assign_sim_range: with reassign from_customer_id is the previous customer (NULL for a free SIM)');
SELECT results_eq(
	$$SELECT e.payload -> 'iccids', e.payload -> 'from_customer_ids', a.new_value
	    FROM t.last_audit('assign_sim_range') AS a, t.event_of(a.event_id) AS e$$,
	$$SELECT to_jsonb(t.iccids(8, 20)),
	         (SELECT jsonb_agg(c ORDER BY c) FROM unnest(ARRAY[t.cid('C1'), t.cid('C Draft')]) AS c),
	         jsonb_build_object('assigned', 13, 'first_iccid', t.iccid(8), 'last_iccid', t.iccid(20),
	                            'reassign', true)$$,
	'assign_sim_range: the reassigning call is one audit row and one event naming the customers the SIMs came from');
SELECT is(cmp.assign_sim_range(t.cid('C2'), t.iccid(8), t.iccid(20), reassign => true), 0::bigint,
	'assign_sim_range: with reassign, SIMs already on the customer are not counted again');

-- ---- assign_sim_range: refusals --------------------------------------------

SELECT t.system();
CREATE TEMP TABLE before_range ON COMMIT DROP AS SELECT t.state() AS s;
GRANT SELECT ON before_range TO ro_t_bulk_app;

SELECT t.act('acc1');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(90), t.iccid(110)),
	'P0002', NULL,
	'assign_sim_range: a range holding SIMs of another account only is P0002');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(900), t.iccid(950)),
	'P0002', NULL,
	'assign_sim_range: a range holding no SIM at all is P0002');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), '8949000000000000000000'::text, '89490000000000009999'),
	'22023', NULL,
	'assign_sim_range: a bound of 22 digits is 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('D1'), t.iccid(21), t.iccid(22)),
	'P0002', NULL,
	'assign_sim_range: a customer of another account is unknown to an ACCOUNT user');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)',
	       (SELECT max(customer_id) + 1000 FROM cmp.customer), t.iccid(21), t.iccid(22)),
	'P0002', NULL,
	'assign_sim_range: an unknown customer is P0002');
SELECT is(
	(SELECT replace(e[2], t.cid('D1')::text, '<id>')
	   FROM t.err(format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('D1'), t.iccid(21), t.iccid(22))) AS e),
	(SELECT replace(e[2], (SELECT max(customer_id) + 1000 FROM cmp.customer)::text, '<id>')
	   FROM t.err(format('SELECT cmp.assign_sim_range(%s, %L, %L)',
	                     (SELECT max(customer_id) + 1000 FROM cmp.customer), t.iccid(21), t.iccid(22))) AS e),
	'assign_sim_range: a customer of another account is reported like one that does not exist');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C Susp'), t.iccid(21), t.iccid(22)),
	'55000', NULL,
	'assign_sim_range: a SUSPENDED customer receives no range');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C Term'), t.iccid(21), t.iccid(22)),
	'55000', NULL,
	'assign_sim_range: a TERMINATED customer receives no range');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), '12345', t.iccid(22)),
	'22023', NULL,
	'assign_sim_range: a short first_iccid is 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(21), left(t.iccid(22), 18)),
	'22023', NULL,
	'assign_sim_range: a last_iccid of 18 digits is 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(21), t.iccid(22) || '00'),
	'22023', NULL,
	'assign_sim_range: a last_iccid of 21 digits is 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), left(t.iccid(21), 18) || 'x', t.iccid(22)),
	'22023', NULL,
	'assign_sim_range: a bound with a letter is 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), '-894900000000000021', t.iccid(22)),
	'22023', NULL,
	'assign_sim_range: a bound with a sign is 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(21), t.iccid20(300)),
	'22023', NULL,
	'assign_sim_range: bounds of 19 and 20 digits are 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(22), t.iccid(21)),
	'22023', NULL,
	'assign_sim_range: first_iccid after last_iccid is 22023');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(NULL, %L, %L)', t.iccid(21), t.iccid(22)),
	'22004', NULL,
	'assign_sim_range: customer_id NULL is 22004');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, NULL, %L)', t.cid('C3'), t.iccid(22)),
	'22004', NULL,
	'assign_sim_range: first_iccid NULL is 22004');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, NULL)', t.cid('C3'), t.iccid(21)),
	'22004', NULL,
	'assign_sim_range: last_iccid NULL is 22004');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L, reassign => NULL)', t.cid('C3'), t.iccid(21), t.iccid(22)),
	'22004', NULL,
	'assign_sim_range: reassign NULL is 22004');

-- who may not
SELECT t.act('csp1');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(21), t.iccid(22)),
	'42501', NULL,
	'assign_sim_range: a CSP user may not assign SIMs (§5)');
SELECT t.act('adm3');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(21), t.iccid(22)),
	'42501', NULL,
	'assign_sim_range: a customer admin may not assign SIMs, even to its own customer (§5)');
SELECT t.act('cu1');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C1'), t.iccid(21), t.iccid(22)),
	'42501', NULL,
	'assign_sim_range: a customer user may not assign SIMs (§5)');
SELECT t.nobody();
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(21), t.iccid(22)),
	'42501', NULL,
	'assign_sim_range: a session with no actor may not assign SIMs');
SELECT t.act('acc2');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('C3'), t.iccid(21), t.iccid(22)),
	'P0002', NULL,
	'assign_sim_range: an ACCOUNT user of another account does not see the customer');
SELECT throws_ok(
	format('SELECT cmp.assign_sim_range(%s, %L, %L)', t.cid('D1'), t.iccid(1), t.iccid(60)),
	'P0002', NULL,
	'assign_sim_range: the SIMs of another account are not in the range of an ACCOUNT user''s own customer (rule 5)');

SELECT t.system();
SELECT is(t.state(), (SELECT s FROM before_range),
	'assign_sim_range: refused calls changed no SIM, history, audit row or event');

-- ---- assign_free_sims: what it does ----------------------------------------

-- free in A1 now: t.iccidp(1..5) (the lowest), t.iccid(21..60)
SELECT t.act('acc1');
SELECT is(cmp.assign_free_sims(t.cid('C3'), 3),
	ARRAY[t.iccidp(1), t.iccidp(2), t.iccidp(3)],
	'assign_free_sims: returns the lowest free ICCIDs of the account, in order');
SELECT is(t.holders(ARRAY[t.iccidp(1), t.iccidp(2), t.iccidp(3), t.iccidp(4)]),
	ARRAY['C3', 'C3', 'C3', '-'],
	'assign_free_sims: they are on the customer, and no other SIM');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card
	  WHERE iccid = ANY (ARRAY[t.iccidp(1), t.iccidp(2), t.iccidp(3)])
	    AND assigned_at IS NOT NULL AND account_id = t.aid('A1')),
	3::bigint,
	'assign_free_sims: the SIMs stay in their account and get an assigned_at');
SELECT is(t.histories(ARRAY[t.iccidp(1), t.iccidp(2), t.iccidp(3)]), ARRAY['->C3', '->C3', '->C3'],
	'assign_free_sims: one history row per SIM, from no customer to the customer');
SELECT is(
	(SELECT count(*) FROM cmp.sim_assignment_history
	  WHERE iccid = ANY (ARRAY[t.iccidp(1), t.iccidp(2), t.iccidp(3)])
	    AND changed_by = t.uid('acc1') AND account_id = t.aid('A1') AND from_customer_id IS NULL),
	3::bigint,
	'assign_free_sims: the history rows record the account and the acting user');
SELECT is(t.audits('assign_free_sims'), 1::bigint,
	'assign_free_sims: one audit row for the call');
SELECT results_eq(
	$$SELECT a.actor_user_id, a.resource_type, a.account_id, a.customer_id, a.new_value
	    FROM t.last_audit('assign_free_sims') AS a$$,
	$$SELECT t.uid('acc1'), 'sim'::text, t.aid('A1'), t.cid('C3'),
	         '{"assigned": 3, "iccid_prefix": null}'::jsonb$$,
	'assign_free_sims: the audit row names the actor, the account, the customer and the count');
SELECT results_eq(
	$$SELECT e.event_type, e.account_id, e.customer_id, e.actor_user_id,
	         e.payload -> 'iccids', e.payload -> 'from_customer_ids'
	    FROM t.event_of((t.last_audit('assign_free_sims')).event_id) AS e$$,
	$$SELECT 'sims.assigned'::text, t.aid('A1'), t.cid('C3'), t.uid('acc1'),
	         to_jsonb(ARRAY[t.iccidp(1), t.iccidp(2), t.iccidp(3)]), '[]'::jsonb$$,
	'assign_free_sims: one sims.assigned event with the ICCIDs');

SELECT is(cmp.assign_free_sims(t.cid('C3'), 4, iccid_prefix => '8949'), t.iccids(21, 24),
	'assign_free_sims: with a prefix, the lowest free SIMs with that prefix (lower ones without it are left)');
SELECT is(t.holders(ARRAY[t.iccidp(4), t.iccidp(5)]), ARRAY['-', '-'],
	'assign_free_sims: the free SIMs without the prefix stay free');
SELECT is(
	(SELECT a.new_value FROM t.last_audit('assign_free_sims') AS a),
	'{"assigned": 4, "iccid_prefix": "8949"}'::jsonb,
	'assign_free_sims: the audit row records the prefix');
SELECT is(cmp.assign_free_sims(t.cid('C2'), 10, iccid_prefix => left(t.iccid(30), 17)), t.iccids(30, 39),
	'assign_free_sims: a long prefix selects exactly the SIMs that start with it');
SELECT is(cmp.assign_free_sims(t.cid('C2'), 2, iccid_prefix => '8933'), ARRAY[t.iccidp(4), t.iccidp(5)],
	'assign_free_sims: another prefix takes its own SIMs');
SELECT is(cmp.assign_free_sims(t.cid('C Draft'), 1, iccid_prefix => t.iccid(25)), ARRAY[t.iccid(25)],
	'assign_free_sims: a full ICCID as prefix takes that SIM (a DRAFT customer receives SIMs)');
SELECT is(cmp.assign_free_sims(t.cid('C3'), 1), ARRAY[t.iccid(26)],
	'assign_free_sims: the next call takes the next lowest free SIM');
SELECT is(ARRAY[t.audits('assign_free_sims'), t.sim_events()], ARRAY[6, 11]::bigint[],
	'assign_free_sims: one audit row and one event per call');

-- not enough free SIMs: 55000, nothing assigned
SELECT t.system();
CREATE TEMP TABLE before_short ON COMMIT DROP AS SELECT t.state() AS s;
GRANT SELECT ON before_short TO ro_t_bulk_app;
SELECT t.act('acc1');
SELECT is(t.free('A1'), 24::bigint,
	'assign_free_sims: (24 SIMs of A1 are free: 27..29 and 40..60)');
SELECT throws_ok(
	format('SELECT cmp.assign_free_sims(%s, 25)', t.cid('C3')),
	'55000', NULL,
	'assign_free_sims: asking for more SIMs than are free is 55000');
SELECT throws_ok(
	format('SELECT cmp.assign_free_sims(%s, 1, iccid_prefix => %L)', t.cid('C3'), '8933'),
	'55000', NULL,
	'assign_free_sims: no free SIM with the prefix is 55000');
SELECT throws_ok(
	format('SELECT cmp.assign_free_sims(%s, 1, iccid_prefix => %L)', t.cid('C3'), t.iccid(25)),
	'55000', NULL,
	'assign_free_sims: a prefix naming an assigned SIM finds no free SIM');
SELECT throws_ok(
	format('SELECT cmp.assign_free_sims(%s, 1000000)', t.cid('C3')),
	'55000', NULL,
	'assign_free_sims: count 1000000 is accepted (and more than is free)');
SELECT t.system();
SELECT is(t.state(), (SELECT s FROM before_short),
	'assign_free_sims: a call short of free SIMs assigns none and writes no history, audit row or event');

-- ---- assign_free_sims: refusals --------------------------------------------

SELECT t.act('acc1');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 0)', t.cid('C3')), '22023', NULL,
	'assign_free_sims: count 0 is 22023');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, -1)', t.cid('C3')), '22023', NULL,
	'assign_free_sims: a negative count is 22023');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1000001)', t.cid('C3')), '22023', NULL,
	'assign_free_sims: count 1000001 is 22023');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1, iccid_prefix => %L)', t.cid('C3'), '89x'), '22023', NULL,
	'assign_free_sims: a prefix with a letter is 22023');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1, iccid_prefix => %L)', t.cid('C3'), '89 49'), '22023', NULL,
	'assign_free_sims: a prefix with a space inside is 22023');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1, iccid_prefix => %L)', t.cid('C3'), '89%'), '22023', NULL,
	'assign_free_sims: a prefix with a LIKE wildcard is 22023');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1, iccid_prefix => %L)', t.cid('C3'), '894900000000000000000'),
	'22023', NULL,
	'assign_free_sims: a prefix longer than an ICCID is 22023');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(NULL, 1)'), '22004', NULL,
	'assign_free_sims: customer_id NULL is 22004');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, NULL)', t.cid('C3')), '22004', NULL,
	'assign_free_sims: count NULL is 22004');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C Susp')), '55000', NULL,
	'assign_free_sims: a SUSPENDED customer receives no SIMs');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C Term')), '55000', NULL,
	'assign_free_sims: a TERMINATED customer receives no SIMs');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('D1')), 'P0002', NULL,
	'assign_free_sims: a customer of another account is unknown to an ACCOUNT user');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', (SELECT max(customer_id) + 1000 FROM cmp.customer)),
	'P0002', NULL,
	'assign_free_sims: an unknown customer is P0002');

SELECT t.act('csp1');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C3')), '42501', NULL,
	'assign_free_sims: a CSP user may not assign SIMs (§5)');
SELECT t.act('adm3');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C3')), '42501', NULL,
	'assign_free_sims: a customer admin may not assign SIMs, even to its own customer (§5)');
SELECT t.act('cu1');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C1')), '42501', NULL,
	'assign_free_sims: a customer user may not assign SIMs (§5)');
SELECT t.nobody();
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C3')), '42501', NULL,
	'assign_free_sims: a session with no actor may not assign SIMs');
SELECT t.act('acc2');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C3')), 'P0002', NULL,
	'assign_free_sims: an ACCOUNT user of another account does not see the customer');
SELECT is(cmp.assign_free_sims(t.cid('D1'), 5), t.iccids(101, 105),
	'assign_free_sims: an ACCOUNT user gets the free SIMs of its own account only (rule 5)');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('D1')), '55000', NULL,
	'assign_free_sims: ... and then none is free for it, though A1 has free SIMs');

SELECT t.system();
SELECT is(t.free('A1'), 24::bigint,
	'assign_free_sims: refused calls assigned no SIM of A1');

-- ---- all of it -------------------------------------------------------------

SELECT t.act('acc1');
SELECT is(cmp.assign_free_sims(t.cid('C1'), 24), t.iccids(27, 29) || t.iccids(40, 60),
	'assign_free_sims: the last free SIMs can all be taken, in order');
SELECT throws_ok(format('SELECT cmp.assign_free_sims(%s, 1)', t.cid('C1')), '55000', NULL,
	'assign_free_sims: then no SIM is free');
SELECT t.system();
SELECT is(
	(SELECT count(*) FROM cmp.audit_log a
	  WHERE a.operation IN ('assign_sim_range', 'assign_free_sims')
	    AND (SELECT count(*) FROM cmp.event e
	          WHERE (e.payload ->> 'audit_event_id')::bigint = a.event_id
	            AND e.event_type = 'sims.assigned'
	            AND (e.payload -> 'new') = a.new_value
	            AND jsonb_array_length(e.payload -> 'iccids') = (a.new_value ->> 'assigned')::int) = 1),
	(SELECT count(*) FROM cmp.audit_log WHERE operation IN ('assign_sim_range', 'assign_free_sims')),
	'every bulk call''s audit row has exactly one event with as many ICCIDs as it assigned');
SELECT is(
	(SELECT sum((new_value ->> 'assigned')::bigint)::bigint FROM cmp.audit_log
	  WHERE operation IN ('assign_sim_range', 'assign_free_sims')),
	(SELECT count(*) FROM cmp.sim_assignment_history_data WHERE to_customer_id IS NOT NULL),
	'the counts in the audit rows add up to the history rows the bulk calls wrote');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card s
	  WHERE s.customer_id IS DISTINCT FROM
	        (SELECT h.to_customer_id FROM cmp.sim_assignment_history_data h
	          WHERE h.iccid = s.iccid ORDER BY h.history_id DESC LIMIT 1)),
	0::bigint,
	'every SIM is on the customer its last history row moved it to');

SELECT * FROM finish();
ROLLBACK;
