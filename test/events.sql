-- The change feed (SPEC §11): cmp.event, written by every changing function
-- with its audit row; the consumers (create_event_consumer, read_events,
-- ack_events, drop_event_consumer) and purge_events; who sees which event.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.  Everything happens in one
-- transaction that is rolled back.
--
-- Commit order inside one transaction.  A call writes its audit row; the
-- deferred constraint trigger cmp.event_commit on cmp.audit_log writes the
-- row's event into cmp.event, numbered, when the transaction commits.  This
-- file never commits, so after showing that an event is not there before
-- then, it runs SET CONSTRAINTS cmp.event_commit IMMEDIATE: from then on the
-- trigger does at the end of each statement what COMMIT would do, and the
-- consumers can be tested on numbered events.  The isolation spec event_gap
-- checks the real thing across committing sessions.
--
-- Actors: the superuser with no actor is the system actor and builds the
-- fixture through the cmp.* functions.  Calls under test run as the
-- superuser with cmp.set_actor(user) (is_local, for this transaction), which
-- acts as that user; what an actor may read is read as the non-superuser role
-- ro_ev_app, since row-level security does not bind superusers.

BEGIN;
SELECT plan(123);

SET client_min_messages = warning;

CREATE ROLE ro_ev_app NOLOGIN;       -- the application's connection role
CREATE ROLE ro_ev_mapped NOLOGIN;    -- db_role given to a user under test
CREATE ROLE ro_ev_locked NOLOGIN;    -- db_role of an ACCOUNT user that gets locked
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_ev_app;

\ir fixtures/luhn.sql
CREATE FUNCTION pg_temp.iccid(n integer) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
	SELECT pg_temp.luhn('89497100' || lpad(n::text, 10, '0'))
$$;

-- ---- helpers ---------------------------------------------------------------

-- What one call wrote: its events and its audit rows, under a tag.
CREATE TEMP TABLE got (tag text NOT NULL, LIKE cmp.event);
CREATE TEMP TABLE got_audit (tag text NOT NULL, event_id bigint, operation text,
	new_value jsonb);

-- Run one statement (as whoever is acting), keep what it wrote under tag and
-- return its result as text.  Run as the superuser: it reads past RLS.
CREATE FUNCTION pg_temp.call(tag text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	ev bigint;
	au bigint;
	r text;
BEGIN
	SELECT coalesce(max(e.event_id), 0) INTO ev FROM cmp.event e;
	SELECT coalesce(max(a.event_id), 0) INTO au FROM cmp.audit_log a;
	EXECUTE stmt INTO r;
	INSERT INTO got SELECT tag, e.* FROM cmp.event e WHERE e.event_id > ev;
	INSERT INTO got_audit SELECT tag, a.event_id, a.operation, a.new_value
	  FROM cmp.audit_log a WHERE a.event_id > au;
	RETURN r;
END $$;

-- The call's events are exactly one, with these columns, and its payload
-- names the call's only audit row.
CREATE FUNCTION pg_temp.event_is(tag text, event_type text, account_id bigint,
	customer_id bigint, resource_type text, resource_id text, actor_user_id bigint,
	description text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN results_eq(
		format($q$SELECT event_type, account_id, customer_id, resource_type, resource_id,
		                 actor_user_id, (payload->>'audit_event_id')::bigint
		            FROM got WHERE tag = %L ORDER BY event_id$q$, tag),
		format($q$SELECT %L::text, %L::bigint, %L::bigint, %L::text, %L::text, %L::bigint,
		                 a.event_id
		            FROM got_audit a WHERE a.tag = %L ORDER BY a.event_id$q$,
		       event_type, account_id, customer_id, resource_type, resource_id,
		       actor_user_id, tag),
		description);
END $$;

CREATE FUNCTION pg_temp.payload(tag text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT g.payload FROM got g WHERE g.tag = $1 ORDER BY g.event_id LIMIT 1
$$;

-- Only these keys of an object (a missing key stays missing).
CREATE FUNCTION pg_temp.pick(j jsonb, VARIADIC keys text[]) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT coalesce(jsonb_object_agg(k, j -> k), '{}') FROM unnest(keys) AS k WHERE j ? k
$$;

-- The key fields of an event: previous/new (only the given keys), reason
-- and the ICCID lists of SIM calls.
CREATE FUNCTION pg_temp.fields(tag text, VARIADIC keys text[]) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT pg_temp.pick(jsonb_build_object(
	           'previous', pg_temp.pick(p -> 'previous', VARIADIC keys),
	           'new', pg_temp.pick(p -> 'new', VARIADIC keys))
	         || (p - 'previous' - 'new' - 'audit_event_id'),
	       VARIADIC ARRAY['previous', 'new', 'reason', 'iccids', 'from_customer_ids',
	                      'released_iccids'])
	  FROM pg_temp.payload(tag) AS p
$$;

-- Events numbered since the last call of this function (under IMMEDIATE).
CREATE TEMP TABLE mark (v bigint);
INSERT INTO mark VALUES (0);
CREATE FUNCTION pg_temp.new_events() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	SELECT (SELECT count(*) FROM cmp.event e WHERE e.event_id > m.v)
	  INTO n FROM mark m;
	UPDATE mark SET v = (SELECT coalesce(max(e.event_id), 0) FROM cmp.event e);
	RETURN n;
END $$;

-- A call that should change nothing: its result, and how many events it wrote.
CREATE FUNCTION pg_temp.noop(tag text, stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text := pg_temp.call(tag, stmt);
BEGIN
	RETURN format('%s, %s event(s)', r, (SELECT count(*) FROM got g WHERE g.tag = noop.tag));
END $$;

-- A call that should succeed: its result, or its error as text (so that a
-- failure is reported by the test instead of ending the file).
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	EXECUTE stmt INTO r;
	RETURN r;
EXCEPTION WHEN OTHERS THEN
	RETURN format('ERROR %s: %s', SQLSTATE, SQLERRM);
END $$;

GRANT SELECT, INSERT, UPDATE ON got, got_audit, mark TO PUBLIC;

-- ---- events wait for COMMIT ------------------------------------------------

SELECT cmp.create_event_consumer('feed');      -- the system actor's consumer
SELECT pg_temp.new_events() AS _ \gset
SELECT cmp.create_account(account_number => 'EV-R', name => 'Event Reseller',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct_r \gset

SELECT is((SELECT count(*) FROM cmp.event WHERE account_id = :acct_r), 0::bigint,
	'before its transaction commits, an event is not in cmp.event');
SELECT results_eq(
	$$SELECT operation, resource_type FROM cmp.audit_log WHERE resource_id = $$ || quote_literal(:'acct_r'),
	$$VALUES ('create_account', 'account')$$,
	'its audit row is written at once: the event waits for the commit');
SELECT is((SELECT count(*) FROM cmp.read_events('feed')), 0::bigint,
	'a consumer cannot read an event that has not been numbered at commit');

SET CONSTRAINTS cmp.event_commit IMMEDIATE;

SELECT results_eq(
	$$SELECT e.event_type, e.resource_id, e.occurred_at = a.occurred_at
	    FROM cmp.event e JOIN cmp.audit_log a ON a.event_id = (e.payload->>'audit_event_id')::bigint$$,
	format($$VALUES ('account.created', %L, true)$$, :acct_r),
	'the trigger cmp.event_commit (here IMMEDIATE, normally at COMMIT) writes it into cmp.event from its audit row');
SELECT is(ARRAY(SELECT resource_id FROM cmp.read_events('feed')), ARRAY[:'acct_r'],
	'then the consumer reads it');

-- ---- fixture (system actor) ------------------------------------------------

SELECT cmp.create_account(account_number => 'EV-S', name => 'Event Standard') AS acct_s \gset
SELECT cmp.create_user(login => 'ev_csp', email => 'ev.csp@example.com',
	context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'ev_acc_r', email => 'ev.acc.r@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r, is_admin => true) AS acc_r \gset
SELECT cmp.create_user(login => 'ev_acc_s', email => 'ev.acc.s@example.com',
	context_level => 'ACCOUNT', account_id => :acct_s, is_admin => true) AS acc_s \gset
SELECT cmp.create_user(login => 'ev_acc_lk', email => 'ev.acc.lk@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r, db_role => 'ro_ev_locked') AS acc_lk \gset
SELECT cmp.provision_sims(account_id => :acct_r,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 10) AS n)) AS _ \gset
SELECT cmp.provision_sims(account_id => :acct_s,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(101, 104) AS n)) AS _ \gset

-- ---- each changing function writes its event -------------------------------

SELECT cmp.set_actor(:csp);

SELECT pg_temp.call('create_account', $$SELECT cmp.create_account(account_number => 'EV-T',
	name => 'Event Third', account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 7)$$) AS acct_t \gset
SELECT pg_temp.event_is('create_account', 'account.created', :acct_t, NULL, 'account', :'acct_t', :csp,
	'create_account: one account.created event of the new account, by its actor, naming its audit row');
SELECT is(pg_temp.pick(pg_temp.payload('create_account') -> 'new',
		'account_number', 'account_type', 'customer_billing_cycle_day'),
	'{"account_number": "EV-T", "account_type": "RESELLER", "customer_billing_cycle_day": 7}'::jsonb,
	'account.created: the new account in the payload');

SELECT pg_temp.call('create_user', format($$SELECT cmp.create_user(login => 'ev_mapped',
	email => 'ev.mapped@example.com', context_level => 'ACCOUNT', account_id => %s,
	db_role => 'ro_ev_mapped')$$, :acct_r)) AS u_mapped \gset
SELECT pg_temp.event_is('create_user', 'user.created', :acct_r, NULL, 'user', :'u_mapped', :csp,
	'create_user: one user.created event in the user''s account');
SELECT is(pg_temp.pick(pg_temp.payload('create_user') -> 'new', 'login', 'context_level', 'account_id'),
	jsonb_build_object('login', 'ev_mapped', 'context_level', 'ACCOUNT', 'account_id', :acct_r),
	'user.created: the new user in the payload');
SELECT is(ARRAY[(SELECT new_value ? 'db_role' AND new_value ? 'db_role_oid' FROM got_audit
                  WHERE tag = 'create_user'),
                pg_temp.payload('create_user') -> 'new' ? 'db_role',
                pg_temp.payload('create_user') -> 'new' ? 'db_role_oid'],
	ARRAY[true, false, false],
	'user.created: the audit row names the db_role, the event does not (db_role and db_role_oid stripped)');

SELECT cmp.set_actor(:acc_r);

SELECT pg_temp.call('create_customer', format($$SELECT cmp.create_customer(account_id => %s,
	name => 'Ev One', status => 'ACTIVE', admin_login => 'ev_ad1',
	admin_email => 'ev.ad1@example.com')$$, :acct_r)) AS c1 \gset
SELECT admin_user_id AS ad1 FROM cmp.customer WHERE customer_id = :c1 \gset
SELECT pg_temp.event_is('create_customer', 'customer.created', :acct_r, :c1, 'customer', :'c1', :acc_r,
	'create_customer with an admin user: one customer.created event, no separate user.created');
SELECT is(pg_temp.pick(pg_temp.payload('create_customer') -> 'new', 'name', 'status', 'admin_user_id'),
	jsonb_build_object('name', 'Ev One', 'status', 'ACTIVE', 'admin_user_id', :ad1),
	'customer.created: the new customer and its admin user in the payload');

SELECT pg_temp.call('update_customer', format($$SELECT cmp.update_customer(%s,
	'{"description": "Fleet tracking"}')$$, :c1)) AS _ \gset
SELECT pg_temp.event_is('update_customer', 'customer.updated', :acct_r, :c1, 'customer', :'c1', :acc_r,
	'update_customer: one customer.updated event');
SELECT is(pg_temp.fields('update_customer', 'description'),
	'{"previous": {"description": null}, "new": {"description": "Fleet tracking"}}'::jsonb,
	'customer.updated: the previous and new value of the changed field');

SELECT pg_temp.call('create_customer_user', format($$SELECT cmp.create_customer_user(
	customer_ids => ARRAY[%s]::bigint[], login => 'ev_cu1', email => 'ev.cu1@example.com',
	is_admin => true)$$, :c1)) AS cu1 \gset
SELECT pg_temp.event_is('create_customer_user', 'user.created', :acct_r, :c1, 'user', :'cu1', :acc_r,
	'create_customer_user: one user.created event of the user''s customer');
SELECT is(pg_temp.pick(pg_temp.payload('create_customer_user') -> 'new', 'login', 'is_admin', 'customer_ids'),
	jsonb_build_object('login', 'ev_cu1', 'is_admin', true, 'customer_ids', jsonb_build_array(:c1)),
	'user.created of a customer user: its customers in the payload');

SELECT cmp.create_customer(account_id => :acct_r, name => 'Ev Two', status => 'ACTIVE',
	admin_login => 'ev_ad2', admin_email => 'ev.ad2@example.com') AS c2 \gset
SELECT cmp.create_customer(account_id => :acct_r, name => 'Ev Three', status => 'ACTIVE',
	admin_login => 'ev_ad3', admin_email => 'ev.ad3@example.com') AS c3 \gset
SELECT cmp.create_customer(account_id => :acct_r, name => 'Ev Draft') AS cd \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c2]::bigint[], login => 'ev_cu2',
	email => 'ev.cu2@example.com') AS cu2 \gset

SELECT pg_temp.call('assign_user', format($$SELECT cmp.assign_user_to_customers(%s,
	ARRAY[%s, %s]::bigint[])$$, :cu1, :c2, :c1)) AS _ \gset
SELECT pg_temp.event_is('assign_user', 'customer_user.assigned', :acct_r, NULL, 'user', :'cu1', :acc_r,
	'assign_user_to_customers: one customer_user.assigned event');
SELECT is(pg_temp.fields('assign_user', 'changed', 'customer_ids'),
	jsonb_build_object('previous', '{}'::jsonb, 'new', jsonb_build_object('changed', 1, 'customer_ids', jsonb_build_array(:c2))),
	'customer_user.assigned: the newly assigned customers only');

SELECT pg_temp.call('unassign_user', format($$SELECT cmp.unassign_user_from_customers(%s,
	ARRAY[%s]::bigint[])$$, :cu1, :c2)) AS _ \gset
SELECT pg_temp.event_is('unassign_user', 'customer_user.unassigned', :acct_r, NULL, 'user', :'cu1', :acc_r,
	'unassign_user_from_customers: one customer_user.unassigned event');
SELECT is(pg_temp.fields('unassign_user', 'changed', 'customer_ids'),
	jsonb_build_object('previous', '{}'::jsonb, 'new', jsonb_build_object('changed', 1, 'customer_ids', jsonb_build_array(:c2))),
	'customer_user.unassigned: the customers unassigned');

SELECT pg_temp.call('set_user_status', format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, :cu2)) AS _ \gset
SELECT pg_temp.event_is('set_user_status', 'user.status_changed', :acct_r, NULL, 'user', :'cu2', :acc_r,
	'set_user_status: one user.status_changed event');
SELECT is(pg_temp.fields('set_user_status', 'status'),
	'{"previous": {"status": "ACTIVE"}, "new": {"status": "LOCKED"}}'::jsonb,
	'user.status_changed: the previous and the new status');

SELECT cmp.set_actor(:csp);
SELECT pg_temp.call('provision_sims', format($$SELECT cmp.provision_sims(account_id => %s,
	iccids => ARRAY[%L, %L, %L])$$, :acct_r, pg_temp.iccid(23), pg_temp.iccid(21), pg_temp.iccid(22))) AS _ \gset
SELECT pg_temp.event_is('provision_sims', 'sims.provisioned', :acct_r, NULL, 'sim', NULL, :csp,
	'provision_sims: one sims.provisioned event for the bulk call');
SELECT is(pg_temp.fields('provision_sims', 'count'),
	jsonb_build_object('previous', '{}'::jsonb, 'new', '{"count": 3}'::jsonb,
		'iccids', jsonb_build_array(pg_temp.iccid(21), pg_temp.iccid(22), pg_temp.iccid(23))),
	'sims.provisioned: the count and the ICCIDs, sorted');

SELECT cmp.set_actor(:acc_r);
SELECT cmp.assign_sims(:c1, ARRAY[pg_temp.iccid(5), pg_temp.iccid(1), pg_temp.iccid(2)]) AS _ \gset
SELECT pg_temp.call('assign_sims', format($$SELECT cmp.assign_sims(%s, ARRAY[%L, %L, %L],
	reassign => true)$$, :c2, pg_temp.iccid(7), pg_temp.iccid(5), pg_temp.iccid(6))) AS _ \gset
SELECT pg_temp.event_is('assign_sims', 'sims.assigned', :acct_r, :c2, 'sim', :'c2', :acc_r,
	'assign_sims: one sims.assigned event of the receiving customer');
SELECT is(pg_temp.fields('assign_sims', 'assigned'),
	jsonb_build_object('previous', '{}'::jsonb, 'new', '{"assigned": 3}'::jsonb,
		'iccids', jsonb_build_array(pg_temp.iccid(5), pg_temp.iccid(6), pg_temp.iccid(7)),
		'from_customer_ids', jsonb_build_array(:c1)),
	'sims.assigned: the count, the ICCIDs sorted and the customers they came from');

SELECT pg_temp.call('unassign_sims', format($$SELECT cmp.unassign_sims(ARRAY[%L, %L])$$,
	pg_temp.iccid(7), pg_temp.iccid(5))) AS _ \gset
SELECT pg_temp.event_is('unassign_sims', 'sims.unassigned', :acct_r, :c2, 'sim', NULL, :acc_r,
	'unassign_sims: one sims.unassigned event, of the one customer the SIMs left');
SELECT is(pg_temp.fields('unassign_sims', 'unassigned'),
	jsonb_build_object('previous', '{}'::jsonb, 'new', '{"unassigned": 2}'::jsonb,
		'iccids', jsonb_build_array(pg_temp.iccid(5), pg_temp.iccid(7)),
		'from_customer_ids', jsonb_build_array(:c2)),
	'sims.unassigned: the count, the ICCIDs sorted and the customers they left');

SELECT pg_temp.call('suspend', format($$SELECT cmp.set_customer_status(%s, 'SUSPENDED',
	reason => 'unpaid invoice')$$, :c1)) AS _ \gset
SELECT pg_temp.event_is('suspend', 'customer.status_changed', :acct_r, :c1, 'customer', :'c1', :acc_r,
	'set_customer_status: one customer.status_changed event');
SELECT is(pg_temp.fields('suspend', 'status'),
	'{"previous": {"status": "ACTIVE"}, "new": {"status": "SUSPENDED"}, "reason": "unpaid invoice"}'::jsonb,
	'customer.status_changed: the previous and the new status, and the reason');
SELECT cmp.set_customer_status(:c1, 'ACTIVE') AS _ \gset

SELECT cmp.assign_sims(:c3, ARRAY[pg_temp.iccid(9), pg_temp.iccid(8)]) AS _ \gset
SELECT pg_temp.call('terminate', format($$SELECT cmp.set_customer_status(%s, 'TERMINATED',
	reason => 'contract ended', release_sims => true)$$, :c3)) AS _ \gset
SELECT pg_temp.event_is('terminate', 'customer.status_changed', :acct_r, :c3, 'customer', :'c3', :acc_r,
	'set_customer_status with release_sims: one customer.status_changed event, none for the released SIMs');
SELECT is(pg_temp.fields('terminate', 'status'),
	jsonb_build_object('previous', '{"status": "ACTIVE"}'::jsonb, 'new', '{"status": "TERMINATED"}'::jsonb,
		'reason', 'contract ended',
		'released_iccids', jsonb_build_array(pg_temp.iccid(8), pg_temp.iccid(9))),
	'customer.status_changed with release_sims: the released ICCIDs, sorted');

SELECT pg_temp.call('delete_customer', format($$SELECT cmp.delete_customer(%s)$$, :cd)) AS _ \gset
SELECT pg_temp.event_is('delete_customer', 'customer.deleted', :acct_r, :cd, 'customer', :'cd', :acc_r,
	'delete_customer: one customer.deleted event');
SELECT is(pg_temp.fields('delete_customer', 'name', 'status', 'deleted'),
	'{"previous": {"name": "Ev Draft", "status": "DRAFT"}, "new": {"deleted": true}}'::jsonb,
	'customer.deleted: the deleted customer in the payload');

-- every event names the audit row of its own call
SELECT is_empty($$
	SELECT e.event_id, e.event_type, a.operation
	  FROM cmp.event e
	  LEFT JOIN cmp.audit_log a ON a.event_id = (e.payload->>'audit_event_id')::bigint
	  LEFT JOIN (VALUES ('create_account', 'account.created'), ('create_user', 'user.created'),
	                    ('create_customer_user', 'user.created'),
	                    ('set_user_status', 'user.status_changed'),
	                    ('create_customer', 'customer.created'),
	                    ('update_customer', 'customer.updated'),
	                    ('delete_customer', 'customer.deleted'),
	                    ('set_customer_status', 'customer.status_changed'),
	                    ('assign_user_to_customers', 'customer_user.assigned'),
	                    ('unassign_user_from_customers', 'customer_user.unassigned'),
	                    ('provision_sims', 'sims.provisioned'), ('assign_sims', 'sims.assigned'),
	                    ('unassign_sims', 'sims.unassigned')) AS m(operation, event_type)
	    ON m.operation = a.operation
	 WHERE m.event_type IS DISTINCT FROM e.event_type
	    OR (a.account_id, a.customer_id, a.resource_type, a.resource_id, a.actor_user_id)
	       IS DISTINCT FROM (e.account_id, e.customer_id, e.resource_type, e.resource_id, e.actor_user_id)
	    OR a.occurred_at IS DISTINCT FROM e.occurred_at$$,
	'every event''s audit_event_id is the audit row of its call: same operation, account, customer, resource, actor and time');

SELECT is((SELECT count(*) FROM cmp.event
            WHERE jsonb_path_exists(payload, 'lax $.**.db_role')
               OR jsonb_path_exists(payload, 'lax $.**.db_role_oid')), 0::bigint,
	'no event payload has a db_role or db_role_oid key, at any depth');

-- ---- no event for a failing call or a no-op --------------------------------

SELECT pg_temp.new_events() AS _ \gset

SELECT throws_ok(format($$SELECT cmp.set_customer_status(%s, 'ACTIVE')$$, :c3), '55000', NULL,
	'a refused transition (TERMINATED -> ACTIVE) is refused');
SELECT is(pg_temp.new_events(), 0::bigint, '... and writes no event');
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'EV ONE')$$, :acct_r),
	'23505', NULL, 'a duplicate customer name is refused');
SELECT is(pg_temp.new_events(), 0::bigint, '... and writes no event');
SELECT throws_ok(format($$SELECT cmp.assign_sims(%s, ARRAY[%L])$$, :c3, pg_temp.iccid(10)),
	'55000', NULL, 'SIMs to a TERMINATED customer are refused');
SELECT is(pg_temp.new_events(), 0::bigint, '... and write no event');
SELECT cmp.set_actor(:csp);
SELECT throws_ok($$SELECT cmp.create_user(login => 'EV_ACC_R', email => 'x@example.com',
	context_level => 'CSP')$$, '23505', NULL, 'a duplicate login is refused');
SELECT is(pg_temp.new_events(), 0::bigint, '... and writes no event');
SELECT throws_ok(format($$SELECT cmp.provision_sims(account_id => %s, iccids => ARRAY[%L, %L])$$,
	:acct_s, pg_temp.iccid(201), pg_temp.iccid(1)), '23505', NULL,
	'provisioning an ICCID that exists is refused (all or nothing)');
SELECT is(pg_temp.new_events(), 0::bigint, '... and writes no event');
SELECT cmp.set_actor(:cu1);
SELECT throws_ok(format($$SELECT cmp.create_customer(account_id => %s, name => 'Ev Four')$$, :acct_r),
	'42501', NULL, 'a CUSTOMER user may not create customers');
SELECT is(pg_temp.new_events(), 0::bigint, '... and writes no event');

SELECT cmp.set_actor(:acc_r);
SELECT is(pg_temp.noop('noop_assign_sims', format($$SELECT cmp.assign_sims(%s, ARRAY[%L, %L])$$,
		:c1, pg_temp.iccid(2), pg_temp.iccid(1))),
	'0, 0 event(s)', 'assign_sims of SIMs already on the customer: no-op, no event');
SELECT is(pg_temp.noop('noop_unassign_sims', format($$SELECT cmp.unassign_sims(ARRAY[%L])$$,
		pg_temp.iccid(10))),
	'0, 0 event(s)', 'unassign_sims of a SIM on no customer: no-op, no event');
SELECT is(pg_temp.noop('noop_assign_user', format($$SELECT cmp.assign_user_to_customers(%s, ARRAY[%s]::bigint[])$$,
		:cu1, :c1)),
	'0, 0 event(s)', 'assign_user_to_customers of an existing assignment: no-op, no event');
SELECT is(pg_temp.noop('noop_unassign_user', format($$SELECT cmp.unassign_user_from_customers(%s, ARRAY[%s]::bigint[])$$,
		:cu1, :c2)),
	'0, 0 event(s)', 'unassign_user_from_customers of a customer the user is not on: no-op, no event');
SELECT is(pg_temp.noop('noop_user_status', format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, :cu2)),
	'LOCKED, 0 event(s)', 'set_user_status to the status the user has: no-op, no event');
SELECT is(pg_temp.noop('noop_customer_status', format($$SELECT cmp.set_customer_status(%s, 'ACTIVE')$$, :c1)),
	'ACTIVE, 0 event(s)', 'set_customer_status to the status the customer has: no-op, no event');
SELECT is(pg_temp.new_events(), 0::bigint, 'no failing call and no no-op left an event, numbered or pending');

-- ---- who sees which event (as audit_log, SPEC §5) ----------------------------

-- events of the other account too
SELECT cmp.set_actor(:acc_s);
SELECT cmp.create_customer(account_id => :acct_s, name => 'Ev S One', status => 'ACTIVE',
	admin_login => 'ev_ad_s', admin_email => 'ev.ad.s@example.com') AS s1 \gset
SELECT cmp.assign_sims(:s1, ARRAY[pg_temp.iccid(101)]) AS _ \gset
SELECT cmp.clear_actor();

-- written from the SPEC, as the superuser, before any role switch
CREATE TEMP TABLE vis_expected (kind text, event_id bigint);
INSERT INTO vis_expected
SELECT 'csp', e.event_id FROM cmp.event e
UNION ALL SELECT 'account_r', e.event_id FROM cmp.event e WHERE e.account_id = :acct_r
UNION ALL SELECT 'account_s', e.event_id FROM cmp.event e WHERE e.account_id = :acct_s
UNION ALL SELECT 'customer', e.event_id FROM cmp.event e
  WHERE e.customer_id IN (SELECT uc.customer_id FROM cmp.user_customer uc
                            JOIN cmp.customer c USING (customer_id)
                           WHERE uc.user_id = :cu1 AND c.status IN ('ACTIVE', 'SUSPENDED'));
CREATE TEMP TABLE vis_seen (kind text, how text, ord bigint, event_id bigint);
GRANT SELECT ON vis_expected TO PUBLIC;
GRANT SELECT, INSERT ON vis_seen TO PUBLIC;

SELECT ok((SELECT count(*) FILTER (WHERE kind = 'csp') > count(*) FILTER (WHERE kind = 'account_r')
              AND count(*) FILTER (WHERE kind = 'account_r') > count(*) FILTER (WHERE kind = 'customer')
              AND count(*) FILTER (WHERE kind = 'customer') > 0
              AND count(*) FILTER (WHERE kind = 'account_s') > 0 FROM vis_expected)
	AND EXISTS (SELECT FROM cmp.event WHERE account_id IS NULL)
	AND EXISTS (SELECT FROM cmp.event WHERE account_id = :acct_r AND customer_id IS NULL)
	AND EXISTS (SELECT FROM cmp.event WHERE account_id = :acct_r AND customer_id <> :c1),
	'fixture: events without an account, of an account only, of the customer user''s customer and of others');

-- What the acting user sees: by SELECT, and through a new consumer of its own.
CREATE FUNCTION pg_temp.record_seen(kind text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO vis_seen SELECT kind, 'select', 0, e.event_id FROM cmp.event e;
	PERFORM cmp.create_event_consumer('vis');
	INSERT INTO vis_seen SELECT kind, 'read', r.o, r.event_id
	  FROM cmp.read_events('vis', 10000) WITH ORDINALITY AS r(event_id, occurred_at, event_type,
	       account_id, customer_id, resource_type, resource_id, actor_user_id, payload, o);
END $$;

SET ROLE ro_ev_app;
SELECT cmp.set_actor(:csp);
SELECT pg_temp.record_seen('csp');
SELECT cmp.set_actor(:acc_r);
SELECT pg_temp.record_seen('account_r');
SELECT cmp.set_actor(:acc_s);
SELECT pg_temp.record_seen('account_s');
SELECT cmp.set_actor(:cu1);
SELECT pg_temp.record_seen('customer');
RESET ROLE;
SELECT cmp.clear_actor();

CREATE FUNCTION pg_temp.seen(kind text, how text) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(s.event_id ORDER BY s.ord, s.event_id), '{}')
	  FROM vis_seen s WHERE s.kind = $1 AND s.how = $2
$$;
CREATE FUNCTION pg_temp.expected(kind text) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(v.event_id ORDER BY v.event_id), '{}')
	  FROM vis_expected v WHERE v.kind = $1
$$;
SELECT is(pg_temp.seen('csp', 'select'), pg_temp.expected('csp'),
	'SELECT on cmp.event: a CSP user sees every event');
SELECT is(pg_temp.seen('csp', 'read'), pg_temp.expected('csp'),
	'read_events: a CSP user''s consumer reads every event, in event_id order');
SELECT is(pg_temp.seen('account_r', 'select'), pg_temp.expected('account_r'),
	'SELECT on cmp.event: an ACCOUNT user sees its account''s events only');
SELECT is(pg_temp.seen('account_r', 'read'), pg_temp.expected('account_r'),
	'read_events: an ACCOUNT user''s consumer reads its account''s events only');
SELECT is(pg_temp.seen('account_s', 'select'), pg_temp.expected('account_s'),
	'SELECT on cmp.event: the other ACCOUNT user sees its own account''s events only');
SELECT is(pg_temp.seen('account_s', 'read'), pg_temp.expected('account_s'),
	'read_events: the other ACCOUNT user''s consumer reads its own account''s events only');
SELECT is(pg_temp.seen('customer', 'select'), pg_temp.expected('customer'),
	'SELECT on cmp.event: a CUSTOMER user sees the events of its customers only');
SELECT is(pg_temp.seen('customer', 'read'), pg_temp.expected('customer'),
	'read_events: a CUSTOMER user''s consumer reads the events of its customers only');

-- nobody: no actor, and a LOCKED user (through its db_role mapping)
SET ROLE ro_ev_locked;
SELECT cmp.create_event_consumer('vis');       -- while the user is ACTIVE
SELECT is((SELECT count(*) FROM cmp.event), cardinality(pg_temp.expected('account_r'))::bigint,
	'SELECT on cmp.event: a role mapped to an ACTIVE ACCOUNT user sees its account''s events');
RESET ROLE;
SELECT cmp.set_actor(:acc_r);
SELECT cmp.set_user_status(:acc_lk, 'LOCKED') AS _ \gset
SELECT cmp.clear_actor();

SET ROLE ro_ev_app;
SELECT is((SELECT count(*) FROM cmp.event), 0::bigint,
	'SELECT on cmp.event: a session with no actor sees no event');
SELECT throws_ok($$SELECT * FROM cmp.read_events('vis')$$, '42501', NULL,
	'read_events: a session with no actor is refused');
RESET ROLE;
SET ROLE ro_ev_locked;
SELECT is((SELECT count(*) FROM cmp.event), 0::bigint,
	'SELECT on cmp.event: a LOCKED user sees no event');
SELECT throws_ok($$SELECT * FROM cmp.read_events('vis')$$, '42501', NULL,
	'read_events: a LOCKED user''s own consumer is refused');
RESET ROLE;
SELECT cmp.set_actor(:acc_r);
SELECT cmp.set_user_status(:acc_lk, 'ACTIVE') AS _ \gset
SELECT cmp.clear_actor();
SET ROLE ro_ev_locked;
SELECT cmp.drop_event_consumer('vis');        -- so that it holds back no purge
RESET ROLE;

-- ---- consumers ---------------------------------------------------------------

SELECT coalesce(array_agg(event_id ORDER BY event_id), '{}') AS all_ids FROM cmp.event \gset
SELECT max(event_id) AS newest FROM cmp.event \gset
SELECT (:'all_ids'::bigint[])[3] AS third, (:'all_ids'::bigint[])[2] AS second \gset

SET ROLE ro_ev_app;
SELECT cmp.set_actor(:csp);
SELECT lives_ok($$SELECT cmp.create_event_consumer('billing')$$,
	'create_event_consumer: a CSP user creates a consumer');
SELECT throws_ok($$SELECT cmp.create_event_consumer('billing')$$, '23505', NULL,
	'create_event_consumer: the same name again for the same owner is a duplicate');
SELECT cmp.create_event_consumer('analytics');
SELECT cmp.set_actor(:acc_r);
SELECT lives_ok($$SELECT cmp.create_event_consumer('billing')$$,
	'create_event_consumer: the same name for another owner is fine');
RESET ROLE;
SELECT cmp.clear_actor();
SELECT throws_ok($$SELECT cmp.create_event_consumer('feed')$$, '23505', NULL,
	'create_event_consumer: the system actor''s names are unique too');
SET ROLE ro_ev_app;

SELECT cmp.set_actor(:csp);
SELECT is(ARRAY(SELECT event_id FROM cmp.read_events('billing')), :'all_ids'::bigint[],
	'read_events: a new consumer reads every unacknowledged event, in event_id order');
SELECT is(ARRAY(SELECT event_id FROM cmp.read_events('billing')), :'all_ids'::bigint[],
	'read_events: reading again without acknowledging returns the same events');
SELECT is(ARRAY(SELECT event_id FROM cmp.read_events('billing', 3)), (:'all_ids'::bigint[])[1:3],
	'read_events: max_events bounds the events read, the oldest first');
SELECT is(cmp.ack_events('billing', :third), 3::bigint,
	'ack_events: returns how many events it acknowledged');
SELECT is(ARRAY(SELECT event_id FROM cmp.read_events('billing')), (:'all_ids'::bigint[])[4:],
	'read_events: after an acknowledgement, the events after it');
SELECT is(cmp.ack_events('billing', :second), 0::bigint,
	'ack_events: an id already acknowledged acknowledges nothing (0)');
SELECT is(cmp.ack_events('billing', :third), 0::bigint,
	'ack_events: the same id again acknowledges nothing (0)');
SELECT throws_ok(format('SELECT cmp.ack_events(%L, %s)', 'billing', :newest + 1), '22023', NULL,
	'ack_events: an id beyond the newest committed event is refused');
SELECT throws_ok($$SELECT cmp.ack_events('billing', -1)$$, '22023', NULL,
	'ack_events: a negative id is refused');
SELECT is((SELECT acked_event_id FROM cmp.event_consumer WHERE name = 'billing'), :third::bigint,
	'ack_events: refused and repeated acknowledgements leave the position where it was');
SELECT throws_ok($$SELECT * FROM cmp.read_events(NULL)$$, '22004', NULL,
	'read_events: a NULL consumer is refused');
SELECT throws_ok($$SELECT * FROM cmp.read_events('billing', NULL)$$, '22004', NULL,
	'read_events: a NULL max_events is refused');
SELECT throws_ok($$SELECT cmp.ack_events(NULL, 1)$$, '22004', NULL,
	'ack_events: a NULL consumer is refused');
SELECT throws_ok($$SELECT cmp.ack_events('billing', NULL)$$, '22004', NULL,
	'ack_events: a NULL up_to_event_id is refused');
SELECT throws_ok($$SELECT cmp.create_event_consumer(NULL)$$, '22004', NULL,
	'create_event_consumer: a NULL name is refused');
SELECT throws_ok($$SELECT cmp.drop_event_consumer(NULL)$$, '22004', NULL,
	'drop_event_consumer: a NULL name is refused');
SELECT throws_ok($$SELECT * FROM cmp.read_events('billing', 0)$$, '22023', NULL,
	'read_events: max_events 0 is refused');
SELECT throws_ok($$SELECT * FROM cmp.read_events('billing', 10001)$$, '22023', NULL,
	'read_events: max_events 10001 is refused');
SELECT is(ARRAY(SELECT event_id FROM cmp.read_events('billing', 10000)), (:'all_ids'::bigint[])[4:],
	'read_events: max_events 10000 is allowed');
SELECT is(cmp.ack_events('billing', :newest), cardinality(:'all_ids'::bigint[]) - 3::bigint,
	'ack_events: up to the newest event acknowledges the rest');
SELECT is_empty($$SELECT * FROM cmp.read_events('billing')$$,
	'read_events: nothing is delivered again after its acknowledgement');
SELECT cmp.create_account(account_number => 'EV-U', name => 'Event Late') AS acct_u \gset
SELECT results_eq($$SELECT event_type, resource_id FROM cmp.read_events('billing')$$,
	format($$VALUES ('account.created', %L)$$, :acct_u),
	'read_events: an event written after the acknowledgement is read next');
SELECT max(event_id) AS newest FROM cmp.read_events('billing') \gset
SELECT cmp.ack_events('billing', :newest) AS _ \gset

-- another actor's consumer does not exist for this one
SELECT cmp.set_actor(:acc_r);
SELECT throws_ok($$SELECT * FROM cmp.read_events('analytics')$$, 'P0002', NULL,
	'read_events: another user''s consumer does not exist for this actor');
SELECT throws_ok($$SELECT cmp.ack_events('analytics', 1)$$, 'P0002', NULL,
	'ack_events: another user''s consumer does not exist for this actor');
SELECT throws_ok($$SELECT cmp.drop_event_consumer('analytics')$$, 'P0002', NULL,
	'drop_event_consumer: another user''s consumer does not exist for this actor');
SELECT throws_ok($$SELECT * FROM cmp.read_events('nonesuch')$$, 'P0002', NULL,
	'read_events: an unknown consumer does not exist');
SELECT cmp.set_actor(:csp);
SELECT lives_ok($$SELECT cmp.drop_event_consumer('analytics')$$,
	'drop_event_consumer: its owner drops it');
SELECT throws_ok($$SELECT cmp.drop_event_consumer('analytics')$$, 'P0002', NULL,
	'drop_event_consumer: a dropped consumer does not exist');

-- a CUSTOMER user's consumer acknowledges what its owner sees
SELECT cmp.set_actor(:cu1);
SELECT is(cmp.ack_events('vis', :newest), cardinality(pg_temp.expected('customer'))::bigint,
	'ack_events: a CUSTOMER user''s consumer counts only the events of its customers');
SELECT is_empty($$SELECT * FROM cmp.read_events('vis')$$,
	'read_events: the CUSTOMER user''s consumer has nothing left to read');

-- no actor
RESET ROLE;
SELECT cmp.clear_actor();
SET ROLE ro_ev_app;
SELECT throws_ok($$SELECT cmp.create_event_consumer('x')$$, '42501', NULL,
	'create_event_consumer: no actor is refused');
SELECT throws_ok($$SELECT * FROM cmp.read_events('billing')$$, '42501', NULL,
	'read_events: no actor is refused');
SELECT throws_ok($$SELECT cmp.ack_events('billing', 1)$$, '42501', NULL,
	'ack_events: no actor is refused');
SELECT throws_ok($$SELECT cmp.drop_event_consumer('billing')$$, '42501', NULL,
	'drop_event_consumer: no actor is refused');

-- ---- purge_events --------------------------------------------------------------

SELECT throws_ok($$SELECT cmp.purge_events('0 seconds')$$, '42501', NULL,
	'purge_events: no actor is refused');
SELECT cmp.set_actor(:acc_r);
SELECT throws_ok($$SELECT cmp.purge_events('0 seconds')$$, '42501', NULL,
	'purge_events: an ACCOUNT user is refused');
SELECT cmp.set_actor(:cu1);
SELECT throws_ok($$SELECT cmp.purge_events('0 seconds')$$, '42501', NULL,
	'purge_events: a CUSTOMER user is refused');
SELECT cmp.set_actor(:csp);
SELECT throws_ok($$SELECT cmp.purge_events(NULL)$$, '22004', NULL,
	'purge_events: a NULL interval is refused');
SELECT throws_ok($$SELECT cmp.purge_events('-1 second')$$, '22023', NULL,
	'purge_events: a negative interval is refused');
SELECT throws_ok($$SELECT cmp.purge_events('-1 month')$$, '22023', NULL,
	'purge_events: a negative interval in months is refused');

-- Positions: every consumer has acknowledged every event but one, the
-- ACCOUNT user's 'billing', which lags at the unassign_sims event.  The
-- visibility consumers are done with.
SELECT cmp.drop_event_consumer('vis');
SELECT cmp.set_actor(:cu1);
SELECT cmp.drop_event_consumer('vis');
SELECT cmp.set_actor(:acc_s);
SELECT cmp.drop_event_consumer('vis');
SELECT cmp.set_actor(:acc_r);
SELECT cmp.drop_event_consumer('vis');
RESET ROLE;
SELECT event_id AS lag FROM got WHERE tag = 'unassign_sims' \gset
SELECT event_id AS recent FROM got WHERE tag = 'update_customer' \gset
SELECT cmp.set_actor(:acc_r);
SELECT cmp.ack_events('billing', :lag) AS _ \gset
SELECT cmp.clear_actor();
SELECT cmp.ack_events('feed', :newest) AS _ \gset

-- Every event of this file has the transaction's start as occurred_at, which
-- is not older than now() - '0 seconds'; all but one ("recent", below the
-- lagging position) are made a day old by hand.
UPDATE cmp.event SET occurred_at = occurred_at - interval '1 day' WHERE event_id <> :recent;
SELECT ok((SELECT count(*) FROM cmp.event_consumer) = 3
	AND (SELECT min(acked_event_id) FROM cmp.event_consumer) = :lag
	AND :recent < :lag AND :lag < :newest,
	'fixture: three consumers, the slowest at an event between the recent one and the newest');
CREATE TEMP TABLE before_purge AS SELECT event_id, account_id FROM cmp.event;
GRANT SELECT ON before_purge TO PUBLIC;

SET ROLE ro_ev_app;
SELECT cmp.set_actor(:csp);
SELECT is(pg_temp.try($$SELECT cmp.purge_events('2 days')$$), '0',
	'purge_events: no event is older than two days');
SELECT is(pg_temp.try($$SELECT cmp.purge_events('0 seconds')$$),
	(SELECT count(*) FROM before_purge WHERE event_id <= :lag AND event_id <> :recent)::text,
	'purge_events: a CSP user purges the old events every consumer has acknowledged');
RESET ROLE;
SELECT is(ARRAY(SELECT event_id FROM cmp.event ORDER BY event_id),
	ARRAY(SELECT event_id FROM before_purge WHERE event_id > :lag OR event_id = :recent ORDER BY event_id),
	'purge_events: kept the recent event and every event the lagging consumer has not acknowledged');
SET ROLE ro_ev_app;
SELECT cmp.set_actor(:acc_r);
SELECT is(ARRAY(SELECT event_id FROM cmp.read_events('billing')),
	ARRAY(SELECT event_id FROM before_purge WHERE event_id > :lag AND account_id = :acct_r ORDER BY event_id),
	'read_events: the lagging consumer still reads everything after its position');
SELECT lives_ok($$SELECT cmp.drop_event_consumer('billing')$$,
	'drop_event_consumer: the lagging consumer is dropped');
RESET ROLE;
SELECT cmp.clear_actor();
SELECT is(pg_temp.try($$SELECT cmp.purge_events('0 seconds')$$),
	(SELECT count(*) FROM before_purge WHERE event_id > :lag AND event_id <= :newest)::text,
	'purge_events: with the lagging consumer dropped, the system actor purges the rest');
SELECT is(ARRAY(SELECT event_id FROM cmp.event ORDER BY event_id), ARRAY[:recent]::bigint[],
	'purge_events: only the event younger than the interval is left');

-- the CHECK of cmp.event accepts exactly the types of SPEC §11
SELECT is(ARRAY(SELECT t FROM unnest(ARRAY['account.created', 'user.created', 'user.status_changed',
	      'customer.created', 'customer.updated', 'customer.deleted', 'customer.status_changed',
	      'customer_user.assigned', 'customer_user.unassigned', 'sims.provisioned',
	      'sims.assigned', 'sims.unassigned', 'sims.deleted', 'customer.created ', 'CUSTOMER.CREATED',
	      'customer', '']) AS t WHERE cmp.event_type_is_valid(t)),
	ARRAY['account.created', 'user.created', 'user.status_changed', 'customer.created',
	      'customer.updated', 'customer.deleted', 'customer.status_changed', 'customer_user.assigned',
	      'customer_user.unassigned', 'sims.provisioned', 'sims.assigned', 'sims.unassigned'],
	'event_type_is_valid: the twelve types of SPEC §11 and nothing else (no prefix, case or padding)');
SELECT throws_ok($$INSERT INTO cmp.event (event_id, occurred_at, event_type, resource_type, payload)
	VALUES (-1, now(), 'customer.renamed', 'customer', '{}')$$, '23514', NULL,
	'cmp.event: an unknown event type is refused by its CHECK, even for a superuser');

SELECT * FROM finish();
ROLLBACK;
