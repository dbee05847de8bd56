-- SIM cards and customers (SPEC §2 rules 5 and 6, §3, §5, §6, §7, §8):
-- assign_sims, unassign_sims, their history and audit, their errors, and
-- the SIM grid a customer user pages through.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed.  Everything happens in one transaction that is rolled back.
--
-- Actors: the superuser with no actor is the system actor and builds the
-- fixtures; CMP users act through the non-superuser role ro_t_sims_app, so
-- that row-level security applies to what they read.

BEGIN;
SELECT plan(101);

-- ---- helpers ---------------------------------------------------------------

CREATE ROLE ro_t_sims_app NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_t_sims_app;
CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO ro_t_sims_app;

-- Ids by name.  SECURITY DEFINER (owned by the superuser, which bypasses row-
-- level security; users are read from the table behind the masking view),
-- so that a test can name an object its actor cannot see.
CREATE FUNCTION t.aid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT account_id FROM cmp.account WHERE account_number = $1$$;
CREATE FUNCTION t.uid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT user_id FROM cmp.app_user_data WHERE login = $1$$;
CREATE FUNCTION t.cid(text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT customer_id FROM cmp.customer WHERE name = $1$$;

-- A valid ICCID: 19 digits, prefix 89, Luhn check digit.  SIM n of the test.
\ir fixtures/luhn.sql
CREATE FUNCTION t.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))
$$;
-- ICCID n with its check digit off by one: malformed
CREATE FUNCTION t.bad_check(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT left(t.iccid(n), 18) || ((right(t.iccid(n), 1)::int + 1) % 10)::text
$$;
CREATE FUNCTION t.iccids(lo bigint, hi bigint) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(t.iccid(i) ORDER BY i) FROM generate_series(lo, hi) AS i
$$;

-- The truth, read past row-level security.
CREATE FUNCTION t.customer_of(n bigint) RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT coalesce(c.name, '-') FROM cmp.sim_card s
	       LEFT JOIN cmp.customer c ON c.customer_id = s.customer_id
	      WHERE s.iccid = t.iccid($1)$$;
-- the moves of one SIM, oldest first: "-" is no customer
CREATE FUNCTION t.history(n bigint) RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT coalesce(string_agg(coalesce(f.name, '-') || '>' || coalesce(o.name, '-'), ' '
	                                ORDER BY h.history_id), '')
	       FROM cmp.sim_assignment_history_data h
	       LEFT JOIN cmp.customer f ON f.customer_id = h.from_customer_id
	       LEFT JOIN cmp.customer o ON o.customer_id = h.to_customer_id
	      WHERE h.iccid = t.iccid($1)$$;
CREATE FUNCTION t.audits(op text) RETURNS bigint LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT count(*) FROM cmp.audit_log WHERE operation = $1$$;
-- everything a SIM call may change, as one value to compare before and after
CREATE FUNCTION t.state() RETURNS text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT format('sims=[%s] assigned_at=%s history=%s audit=%s',
	                   (SELECT string_agg(iccid || ':' || coalesce(customer_id::text, '-'), ',' ORDER BY iccid)
	                      FROM cmp.sim_card),
	                   (SELECT count(*) FROM cmp.sim_card WHERE assigned_at IS NOT NULL),
	                   (SELECT count(*) FROM cmp.sim_assignment_history),
	                   (SELECT count(*) FROM cmp.audit_log))$$;
CREATE FUNCTION t.customer_sims(name text) RETURNS SETOF text LANGUAGE sql SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$SELECT s.iccid FROM cmp.sim_card s JOIN cmp.customer c USING (customer_id)
	      WHERE c.name = $1 ORDER BY s.iccid$$;

-- The error a statement raises: {sqlstate, message, detail}; NULL if none.
CREATE FUNCTION t.err(sql text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN ARRAY[st, msg, det];
END $$;

-- Page through the SIM grid the way the portal does, n rows at a time;
-- returns every page as a comma-separated list.
CREATE FUNCTION t.grid_pages(n int) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	last text := '';
	page text[];
BEGIN
	LOOP
		SELECT array_agg(g.iccid ORDER BY g.iccid) INTO page
		  FROM (SELECT iccid FROM cmp.sim_grid WHERE iccid > last ORDER BY iccid LIMIT n) AS g;
		EXIT WHEN page IS NULL;
		RETURN NEXT array_to_string(page, ',');
		last := page[array_upper(page, 1)];
	END LOOP;
END $$;

-- Switching actors.  The actor is set for the session (is_local => false)
-- so that it survives pgTAP's own statements; the transaction undoes it.
CREATE FUNCTION t.act(login text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
	SET ROLE ro_t_sims_app;
	PERFORM cmp.set_actor(t.uid(login), false);
END $$;
CREATE FUNCTION t.nobody() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
	SET ROLE ro_t_sims_app;
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
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C Draft');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C Susp', status => 'ACTIVE',
		admin_login => 'admS', admin_email => 'admS@example.com');
	PERFORM cmp.set_customer_status(t.cid('C Susp'), 'SUSPENDED');
	PERFORM cmp.create_customer(account_id => t.aid('A1'), name => 'C Term');
	PERFORM cmp.set_customer_status(t.cid('C Term'), 'TERMINATED');
	PERFORM cmp.create_customer(account_id => t.aid('A2'), name => 'D1', status => 'ACTIVE',
		admin_login => 'admD', admin_email => 'admD@example.com');
	PERFORM cmp.create_customer_user(ARRAY[t.cid('C1')], 'cu1', 'cu1@example.com');
	-- SIMs 1..40 belong to A1, 101..105 to A2; 900.. are never provisioned
	PERFORM cmp.provision_sims(t.aid('A1'), t.iccids(1, 40));
	PERFORM cmp.provision_sims(t.aid('A2'), t.iccids(101, 105));
END
$fixtures$;

SELECT is(
	(SELECT count(*) FROM cmp.sim_card WHERE customer_id IS NULL), 45::bigint,
	'fixtures: 45 unassigned SIMs');
SELECT is(
	(SELECT bool_and(cmp.iccid_is_valid(i)) FROM unnest(t.iccids(1, 40) || t.iccids(900, 920)) AS i),
	true, 'fixtures: generated ICCIDs are valid');

-- ---- assign_sims: what it does -----------------------------------------------

SELECT t.act('acc1');
SELECT is(cmp.assign_sims(t.cid('C1'), t.iccids(1, 5)), 5::bigint,
	'assign_sims: an ACCOUNT user assigns SIMs of its account to its customer and gets the count');
SELECT is(
	(SELECT array_agg(t.customer_of(i) ORDER BY i) FROM generate_series(1, 5) AS i),
	ARRAY['C1', 'C1', 'C1', 'C1', 'C1'],
	'assign_sims: each SIM is on the customer');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card
	  WHERE iccid = ANY (t.iccids(1, 5)) AND assigned_at IS NOT NULL AND account_id = t.aid('A1')),
	5::bigint,
	'assign_sims: the SIMs stay in their account and get an assigned_at');
SELECT is(t.audits('assign_sims'), 1::bigint,
	'assign_sims: one audit row for the whole call');
SELECT is(
	(SELECT count(*) FROM cmp.audit_log a, jsonb_each(a.new_value) AS v
	  WHERE a.operation = 'assign_sims' AND v.value = '5'::jsonb
	    AND a.customer_id = t.cid('C1') AND a.actor_user_id = t.uid('acc1')),
	1::bigint,
	'assign_sims: the audit row names the customer, the actor and the count');
SELECT is(
	(SELECT array_agg(t.history(i) ORDER BY i) FROM generate_series(1, 5) AS i),
	ARRAY['->C1', '->C1', '->C1', '->C1', '->C1'],
	'assign_sims: one history row per SIM, from no customer to the customer');
SELECT is(
	(SELECT count(*) FROM cmp.sim_assignment_history
	  WHERE iccid = ANY (t.iccids(1, 5)) AND changed_by = t.uid('acc1') AND account_id = t.aid('A1')),
	5::bigint,
	'assign_sims: history rows record the account and the acting user');

SELECT is(cmp.assign_sims(t.cid('C Draft'), ARRAY[t.iccid(6)]), 1::bigint,
	'assign_sims: a DRAFT customer can receive SIMs');
SELECT is(cmp.assign_sims(t.cid('C1'), ARRAY[t.iccid(1), t.iccid(7)]), 1::bigint,
	'assign_sims: a SIM already on this customer is not counted and is no error');
SELECT is(t.history(1), '->C1',
	'assign_sims: a SIM already on this customer gets no history row');
SELECT is(cmp.assign_sims(t.cid('C1'), ARRAY[t.iccid(1), t.iccid(2)]), 0::bigint,
	'assign_sims: repeating a call that took effect returns 0');
SELECT is(t.audits('assign_sims'), 3::bigint,
	'assign_sims: a call that moved nothing writes no audit row');
SELECT is(cmp.assign_sims(t.cid('C1'), ARRAY[t.iccid(8), t.iccid(8), t.iccid(9), t.iccid(8)]), 2::bigint,
	'assign_sims: duplicates in the input are harmless and counted once');
SELECT is(t.history(8), '->C1',
	'assign_sims: a duplicated SIM gets one history row');

SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C2'), t.iccid(1)),
	'55000', NULL,
	'assign_sims: a SIM on another customer is not taken without reassign');
SELECT is(t.customer_of(1), 'C1',
	'assign_sims: the SIM stayed on its customer');
SELECT is(cmp.assign_sims(t.cid('C2'), ARRAY[t.iccid(1), t.iccid(10)], reassign => true), 2::bigint,
	'assign_sims: with reassign a SIM moves from another customer (and a free one is taken too)');
SELECT is(t.customer_of(1), 'C2',
	'assign_sims: the reassigned SIM is on the new customer');
SELECT is(t.history(1), '->C1 C1>C2',
	'assign_sims: the history of a reassigned SIM records from the old customer to the new');
SELECT is(t.history(10), '->C2',
	'assign_sims: with reassign a free SIM is recorded from no customer');
SELECT is(cmp.assign_sims(t.cid('C2'), ARRAY[t.iccid(1)], reassign => true), 0::bigint,
	'assign_sims: with reassign a SIM already on this customer is not counted');

-- ---- assign_sims: refusals ---------------------------------------------------

SELECT t.system();
CREATE TEMP TABLE state_before ON COMMIT DROP AS SELECT t.state() AS s;
GRANT SELECT ON state_before TO ro_t_sims_app;

SELECT t.act('acc1');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('D1'), t.iccid(11)),
	'P0002', NULL,
	'assign_sims: a customer of another account is unknown to an ACCOUNT user');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', (SELECT max(customer_id) + 1000 FROM cmp.customer), t.iccid(11)),
	'P0002', NULL,
	'assign_sims: an unknown customer is refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(101)),
	'P0002', NULL,
	'assign_sims: a SIM of another account is unknown to an ACCOUNT user (rule 5)');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(900)),
	'P0002', NULL,
	'assign_sims: an unknown ICCID is refused');
SELECT is(
	(SELECT e[1:2] FROM t.err(format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(101))) AS e),
	(SELECT e[1:2] FROM t.err(format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(900))) AS e),
	'assign_sims: a SIM of another account is reported with the same SQLSTATE and message as an unknown ICCID');
SELECT is(
	(SELECT replace(e[3], t.iccid(101), '<iccid>')
	   FROM t.err(format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(101))) AS e),
	(SELECT replace(e[3], t.iccid(900), '<iccid>')
	   FROM t.err(format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(900))) AS e),
	'assign_sims: a SIM of another account is reported with the same DETAIL as an unknown ICCID');
SELECT is(
	(SELECT replace(e[2], t.cid('D1')::text, '<id>')
	   FROM t.err(format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('D1'), t.iccid(11))) AS e),
	(SELECT replace(e[2], (SELECT max(customer_id) + 1000 FROM cmp.customer)::text, '<id>')
	   FROM t.err(format('SELECT cmp.assign_sims(%s, ARRAY[%L])',
	                     (SELECT max(customer_id) + 1000 FROM cmp.customer), t.iccid(11))) AS e),
	'assign_sims: a customer of another account is reported like one that does not exist');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C Term'), t.iccid(11)),
	'55000', NULL,
	'assign_sims: a TERMINATED customer receives no SIMs');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C Susp'), t.iccid(11)),
	'55000', NULL,
	'assign_sims: a SUSPENDED customer receives no SIMs');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L, %L])', t.cid('C1'), t.iccid(11), '8949000000000000001'),
	'22023', NULL,
	'assign_sims: an ICCID with a wrong check digit is refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), '12345'),
	'22023', NULL,
	'assign_sims: a malformed ICCID is refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, NULL)', t.cid('C1')),
	'22004', NULL,
	'assign_sims: iccids NULL is refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L, NULL])', t.cid('C1'), t.iccid(11)),
	'22004', NULL,
	'assign_sims: a NULL element in iccids is refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(NULL, ARRAY[%L])', t.iccid(11)),
	'22004', NULL,
	'assign_sims: customer_id NULL is refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L], reassign => NULL)', t.cid('C1'), t.iccid(11)),
	'22004', NULL,
	'assign_sims: reassign NULL is refused');

-- bulk calls are all-or-nothing
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, %L::text[])', t.cid('C1'), t.iccids(11, 20) || t.iccid(900)),
	'P0002', NULL,
	'assign_sims: ten good SIMs and one unknown: refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, %L::text[])', t.cid('C1'), t.iccids(11, 20) || t.iccid(101)),
	'P0002', NULL,
	'assign_sims: ten good SIMs and one of another account: refused');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, %L::text[])', t.cid('C1'), t.iccids(11, 20) || t.iccid(10)),
	'55000', NULL,
	'assign_sims: ten good SIMs and one on another customer: refused');
SELECT is(t.customer_of(11), '-',
	'assign_sims: the good SIMs of refused calls are still unassigned');

-- who may not
SELECT t.act('adm1');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(11)),
	'42501', NULL,
	'assign_sims: a customer admin may not assign SIMs (§5)');
SELECT t.act('cu1');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(11)),
	'42501', NULL,
	'assign_sims: a customer user may not assign SIMs (§5)');
SELECT t.act('csp1');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(11)),
	'42501', NULL,
	'assign_sims: a CSP user may not assign SIMs (§5)');
SELECT t.nobody();
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('C1'), t.iccid(11)),
	'42501', NULL,
	'assign_sims: a session with no actor may not assign SIMs');
SELECT t.act('acc2');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('D1'), t.iccid(11)),
	'P0002', NULL,
	'assign_sims: an ACCOUNT user cannot take a SIM of another account for its own customer (rule 5)');

SELECT t.system();
SELECT is(t.state(), (SELECT s FROM state_before),
	'assign_sims: refused calls changed no SIM, history or audit row');
SELECT throws_ok(
	format('SELECT cmp.assign_sims(%s, ARRAY[%L])', t.cid('D1'), t.iccid(11)),
	'22023', NULL,
	'assign_sims: even the system actor cannot put a SIM on a customer of another account (rule 5)');
SELECT throws_ok(
	format('UPDATE cmp.sim_card SET customer_id = %s, assigned_at = now() WHERE iccid = %L',
		t.cid('D1'), t.iccid(11)),
	'23503', NULL,
	'sim_card: a superuser updating by hand cannot put a SIM on a customer of another account (rule 5)');

-- ---- errors name how many and the first ten ----------------------------------

SELECT t.act('acc1');
SELECT is(cmp.assign_sims(t.cid('C1'), t.iccids(21, 32)), 12::bigint,
	'errors: twelve more SIMs on C1 to provoke a bulk refusal with');
CREATE TEMP TABLE errs ON COMMIT DROP AS
SELECT 'unknown' AS kind,
       t.err(format('SELECT cmp.assign_sims(%s, %L::text[])', t.cid('C1'),
                    t.iccids(11, 12) || t.iccids(900, 911))) AS e
UNION ALL
SELECT 'other customer',
       t.err(format('SELECT cmp.assign_sims(%s, %L::text[])', t.cid('C2'),
                    t.iccids(11, 12) || t.iccids(21, 32)))
UNION ALL
-- twelve 18-digit ICCIDs, then three of 19 digits with a wrong check digit
SELECT 'malformed',
       t.err(format('SELECT cmp.assign_sims(%s, %L::text[])', t.cid('C1'),
                    ARRAY(SELECT '8949' || lpad(i::text, 14, '0') FROM generate_series(1, 12) AS i)
                    || ARRAY(SELECT t.bad_check(i) FROM generate_series(50, 52) AS i)));
SELECT is((SELECT e[1] FROM errs WHERE kind = 'unknown'), 'P0002',
	'errors: twelve unknown ICCIDs are P0002');
SELECT ok((SELECT e[2] ~ '\m12\M' FROM errs WHERE kind = 'unknown'),
	'errors: the message of twelve unknown ICCIDs says how many (12)');
SELECT is(
	(SELECT array_agg(i ORDER BY i) FILTER (WHERE strpos(e[3], t.iccid(i)) > 0)
	   FROM errs, generate_series(900, 911) AS i WHERE kind = 'unknown'),
	ARRAY[900, 901, 902, 903, 904, 905, 906, 907, 908, 909],
	'errors: the DETAIL of twelve unknown ICCIDs names the first ten and no more');
SELECT ok((SELECT strpos(e[3], t.iccid(11)) = 0 FROM errs WHERE kind = 'unknown'),
	'errors: the DETAIL of unknown ICCIDs does not name a good one');
SELECT is((SELECT e[1] FROM errs WHERE kind = 'other customer'), '55000',
	'errors: SIMs on another customer are 55000');
SELECT ok((SELECT e[2] ~ '\m12\M' FROM errs WHERE kind = 'other customer'),
	'errors: the message of twelve SIMs on another customer says how many (12)');
SELECT is(
	(SELECT array_agg(i ORDER BY i) FILTER (WHERE strpos(e[3], t.iccid(i)) > 0)
	   FROM errs, generate_series(11, 32) AS i WHERE kind = 'other customer'),
	ARRAY[21, 22, 23, 24, 25, 26, 27, 28, 29, 30],
	'errors: the DETAIL of twelve SIMs on another customer names the first ten and no more');
SELECT is((SELECT e[1] FROM errs WHERE kind = 'malformed'), '22023',
	'errors: fifteen malformed ICCIDs are 22023');
SELECT ok((SELECT e[2] ~ '\m15\M' FROM errs WHERE kind = 'malformed'),
	'errors: the message of fifteen malformed ICCIDs says how many (15)');
SELECT is(
	(SELECT array_agg(i ORDER BY i) FILTER (WHERE strpos(e[3], '8949' || lpad(i::text, 14, '0')) > 0)
	   FROM errs, generate_series(1, 12) AS i WHERE kind = 'malformed'),
	ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
	'errors: the DETAIL of fifteen malformed ICCIDs names the first ten and no more');
SELECT is(
	(SELECT array_agg(i ORDER BY i) FILTER (WHERE strpos(e[3], t.bad_check(i)) > 0)
	   FROM errs, generate_series(50, 52) AS i WHERE kind = 'malformed'),
	NULL,
	'errors: the DETAIL of fifteen malformed ICCIDs does not name the eleventh to fifteenth');

-- ---- unassign_sims -----------------------------------------------------------

SELECT t.act('acc1');
SELECT is(cmp.unassign_sims(ARRAY[t.iccid(2), t.iccid(3)]), 2::bigint,
	'unassign_sims: an ACCOUNT user releases SIMs back to the account and gets the count');
SELECT is(
	(SELECT count(*) FROM cmp.sim_card
	  WHERE iccid = ANY (ARRAY[t.iccid(2), t.iccid(3)])
	    AND customer_id IS NULL AND assigned_at IS NULL AND account_id = t.aid('A1')),
	2::bigint,
	'unassign_sims: the SIMs are back on the account, with no customer');
SELECT is(ARRAY[t.history(2), t.history(3)], ARRAY['->C1 C1>-', '->C1 C1>-'],
	'unassign_sims: one history row per SIM, from the customer to no customer');
SELECT is(t.audits('unassign_sims'), 1::bigint,
	'unassign_sims: one audit row for the call');
SELECT is(cmp.unassign_sims(ARRAY[t.iccid(2), t.iccid(4)]), 1::bigint,
	'unassign_sims: a SIM already unassigned is not counted and is no error');
SELECT is(t.history(2), '->C1 C1>-',
	'unassign_sims: a SIM already unassigned gets no history row');
SELECT throws_ok(
	format('SELECT cmp.unassign_sims(ARRAY[%L, %L])', t.iccid(5), t.iccid(900)),
	'P0002', NULL,
	'unassign_sims: an unknown ICCID refuses the whole call');
SELECT is(t.customer_of(5), 'C1',
	'unassign_sims: the good SIM of the refused call is still assigned');
SELECT t.system();
SELECT is(cmp.assign_sims(t.cid('D1'), ARRAY[t.iccid(101)]), 1::bigint,
	'unassign_sims: (the system puts a SIM of A2 on its customer D1)');
SELECT t.act('acc1');
SELECT throws_ok(
	format('SELECT cmp.unassign_sims(ARRAY[%L])', t.iccid(101)),
	'P0002', NULL,
	'unassign_sims: a SIM of another account is unknown to an ACCOUNT user');
SELECT is(t.customer_of(101), 'D1',
	'unassign_sims: the SIM of the other account stays on its customer');
SELECT throws_ok(
	$$SELECT cmp.unassign_sims(NULL)$$,
	'22004', NULL,
	'unassign_sims: iccids NULL is refused');
SELECT throws_ok(
	format('SELECT cmp.unassign_sims(ARRAY[%L, NULL])', t.iccid(5)),
	'22004', NULL,
	'unassign_sims: a NULL element is refused');
SELECT throws_ok(
	$$SELECT cmp.unassign_sims(ARRAY['89'])$$,
	'22023', NULL,
	'unassign_sims: a malformed ICCID is refused');
SELECT t.act('adm1');
SELECT throws_ok(
	format('SELECT cmp.unassign_sims(ARRAY[%L])', t.iccid(5)),
	'42501', NULL,
	'unassign_sims: a customer admin may not unassign SIMs (§5)');
SELECT t.act('cu1');
SELECT throws_ok(
	format('SELECT cmp.unassign_sims(ARRAY[%L])', t.iccid(5)),
	'42501', NULL,
	'unassign_sims: a customer user may not unassign SIMs (§5)');
SELECT t.act('csp1');
SELECT throws_ok(
	format('SELECT cmp.unassign_sims(ARRAY[%L])', t.iccid(5)),
	'42501', NULL,
	'unassign_sims: a CSP user may not unassign SIMs (§5)');
SELECT t.nobody();
SELECT throws_ok(
	format('SELECT cmp.unassign_sims(ARRAY[%L])', t.iccid(5)),
	'42501', NULL,
	'unassign_sims: a session with no actor may not unassign SIMs');
SELECT is(t.customer_of(5), 'C1',
	'unassign_sims: refused actors released nothing');

-- ---- the SIM grid ------------------------------------------------------------

SELECT has_column('cmp', 'sim_grid', 'iccid', 'sim_grid: has iccid');
SELECT has_column('cmp', 'sim_grid', 'imsi', 'sim_grid: has imsi');
SELECT has_column('cmp', 'sim_grid', 'msisdn', 'sim_grid: has msisdn');
SELECT has_column('cmp', 'sim_grid', 'account_number', 'sim_grid: has account_number');
SELECT has_column('cmp', 'sim_grid', 'customer_number', 'sim_grid: has customer_number');
SELECT has_column('cmp', 'sim_grid', 'customer_name', 'sim_grid: has customer_name');
SELECT has_column('cmp', 'sim_grid', 'customer_status', 'sim_grid: has customer_status');
SELECT has_column('cmp', 'sim_grid', 'assigned_at', 'sim_grid: has assigned_at');

SELECT t.act('adm1');
SELECT results_eq(
	$$SELECT iccid FROM cmp.sim_grid ORDER BY iccid$$,
	$$SELECT * FROM t.customer_sims('C1')$$,
	'sim_grid: a customer user sees exactly the SIMs of its customers (rule 6)');
SELECT is(
	(SELECT count(*) FROM cmp.sim_grid), (SELECT count(*) FROM t.customer_sims('C1')),
	'sim_grid: a customer user counts only the SIMs of its customers');
SELECT is(
	(SELECT count(*) FROM cmp.sim_grid
	  WHERE account_number IS NULL AND customer_name = 'C1' AND customer_status = 'ACTIVE'
	    AND customer_number IS NOT NULL AND assigned_at IS NOT NULL),
	(SELECT count(*) FROM t.customer_sims('C1')),
	'sim_grid: a customer user sees its customer''s number, name and status, and no account number');
SELECT is((SELECT count(*) FROM cmp.sim_card), (SELECT count(*) FROM t.customer_sims('C1')),
	'sim_card: a customer user sees exactly the SIMs of its customers');

SELECT t.act('acc1');
SELECT is(
	(SELECT count(*) FROM cmp.sim_grid WHERE account_number = 'A1'), 40::bigint,
	'sim_grid: an ACCOUNT user sees every SIM of its account with its account number');
SELECT is((SELECT count(*) FROM cmp.sim_grid), 40::bigint,
	'sim_grid: an ACCOUNT user sees no SIM of another account');
SELECT is(
	(SELECT count(*) FROM cmp.sim_grid WHERE customer_name = 'C2' AND customer_status = 'ACTIVE'),
	(SELECT count(*) FROM t.customer_sims('C2')),
	'sim_grid: an ACCOUNT user sees which customer holds each SIM');

CREATE TEMP TABLE pages ON COMMIT DROP AS
SELECT ordinality AS page, p FROM t.grid_pages(7) WITH ORDINALITY AS p;
SELECT is((SELECT count(*) FROM pages), 6::bigint,
	'sim_grid: 40 SIMs in pages of 7 are 6 pages');
SELECT is(
	(SELECT array_agg(cardinality(string_to_array(p, ',')) ORDER BY page) FROM pages),
	ARRAY[7, 7, 7, 7, 7, 5],
	'sim_grid: every page but the last is full');
SELECT is(
	(SELECT string_agg(p, ',' ORDER BY page) FROM pages),
	array_to_string(t.iccids(1, 40), ','),
	'sim_grid: paging by iccid returns consecutive pages without overlap or gap');

SELECT t.act('adm1');
SELECT is(
	(SELECT string_agg(p, ',' ORDER BY ordinality) FROM t.grid_pages(4) WITH ORDINALITY AS p),
	(SELECT string_agg(i, ',' ORDER BY i) FROM t.customer_sims('C1') AS i),
	'sim_grid: a customer user pages through exactly its customers'' SIMs, without overlap or gap');
SELECT is(
	(SELECT count(*) FROM t.grid_pages(4)),
	(SELECT (count(*) + 3) / 4 FROM t.customer_sims('C1')),
	'sim_grid: a customer user''s pages of 4 are as many as its SIMs need');

SELECT t.system();
SELECT * FROM finish();
ROLLBACK;
