-- cmp.actor_can (SPEC §12): "whether the actor may call that function (its
-- name in §6) on that object now, so a user interface can offer only what
-- will succeed".  A generated matrix: for every actor kind (rows) and every
-- changing function of the rules table on an object of the actor's own side
-- and of the other side (columns), actor_can is computed as that actor, then
-- the real call is made with otherwise valid, fresh arguments and rolled
-- back; actor_can must be true exactly when the call succeeded.
--
-- actor_can answers permission and reach, not the arguments or the object's
-- state (src/rules.c).  So the arguments are chosen for every call to be
-- valid: a call may only succeed or be refused for permission (42501) or
-- reach (P0002, and 55000 for a SUSPENDED customer, which is read-only to
-- its own users).  Any other failure (55000, 22023, 23505, ...) would make a
-- cell say nothing; such a cell fails, and one more test lists them, so the
-- matrix cannot skip a cell silently.
--
-- Also: an unknown operation is 22023; with no object, actor_can is true
-- when the actor may call the function on some object of its reach; and
-- actor_can changes nothing.
--
-- Run with pg_prove against a database where pgtap and reseller_onboarding
-- are installed, connected as a superuser.  Everything happens in one
-- transaction that is rolled back.
--
-- "own" is the side of account A (where every CMP actor of the matrix
-- belongs), "other" is account B; for the system actor and the CSP user
-- both are simply two accounts.

BEGIN;
SELECT plan(443);

-- ---- roles and helpers -----------------------------------------------------

-- the application's role (CMP users act through it with set_actor), the role
-- a LOCKED user is mapped to, and a role that maps nobody and sets no actor
CREATE ROLE ro_t_ac_app NOLOGIN;
CREATE ROLE ro_t_ac_locked NOLOGIN;
CREATE ROLE ro_t_ac_nobody NOLOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_t_ac_app;
CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO ro_t_ac_app, ro_t_ac_locked, ro_t_ac_nobody;

-- ids by name, read past row-level security (called as the superuser only)
CREATE FUNCTION t.aid(text) RETURNS bigint LANGUAGE sql STABLE
	AS $$SELECT account_id FROM cmp.account WHERE account_number = $1$$;
CREATE FUNCTION t.uid(text) RETURNS bigint LANGUAGE sql STABLE
	AS $$SELECT user_id FROM cmp.app_user_data WHERE login = $1$$;
CREATE FUNCTION t.cid(text) RETURNS bigint LANGUAGE sql STABLE
	AS $$SELECT customer_id FROM cmp.customer WHERE name = $1$$;

\ir fixtures/luhn.sql
CREATE FUNCTION t.iccid(n integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.luhn('894977' || lpad(n::text, 12, '0'))
$$;

-- The rows of the matrix.  login: the CMP user set with set_actor through
-- ro_t_ac_app; role: a role to SET ROLE to without an actor; neither: the
-- superuser with no actor, the system actor.
CREATE TABLE t.actor (
	ord integer PRIMARY KEY,
	key text UNIQUE NOT NULL,
	label text NOT NULL,
	login text,
	role name
);
INSERT INTO t.actor VALUES
	(1, 'system', 'system actor', NULL, NULL),
	(2, 'csp', 'CSP user', 'ac_csp', NULL),
	(3, 'a_admin', 'A account admin', 'ac_a_admin', NULL),
	(4, 'a_user', 'A account non-admin', 'ac_a_user', NULL),
	(5, 'ca_admin', 'A customer admin', 'ac_ca_admin', NULL),
	(6, 'ca_user', 'A customer non-admin', 'ac_ca_user', NULL),
	(7, 'locked', 'LOCKED user', NULL, 'ro_t_ac_locked'),
	(8, 'nobody', 'nobody (no actor, no mapping)', NULL, 'ro_t_ac_nobody');

-- Act as one of them.  The actor is set for the session (is_local => false)
-- so that it lasts until the next switch; the transaction undoes it all.
CREATE FUNCTION t.become(actor_key text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	a t.actor;
	u bigint;
BEGIN
	RESET ROLE;
	PERFORM cmp.clear_actor();
	SELECT * INTO STRICT a FROM t.actor WHERE key = actor_key;
	IF a.login IS NOT NULL THEN
		u := t.uid(a.login);
		SET ROLE ro_t_ac_app;
		PERFORM cmp.set_actor(u, false);
	ELSIF a.role IS NOT NULL THEN
		EXECUTE format('SET ROLE %I', a.role);
	END IF;
END $$;

-- actor_can as one actor, back to the system actor afterwards
CREATE FUNCTION t.can_as(actor_key text, op text, object_id bigint DEFAULT NULL)
	RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	r boolean;
BEGIN
	PERFORM t.become(actor_key);
	r := cmp.actor_can(op, object_id);
	PERFORM t.become('system');
	RETURN r;
END $$;

-- every changing function the rules table names (src/rules.c)
CREATE TABLE t.rule_op (op text PRIMARY KEY);
INSERT INTO t.rule_op VALUES
	('create_account'), ('create_user'), ('provision_sims'), ('create_customer'),
	('import_customers'), ('update_customer'), ('delete_customer'), ('set_customer_status'),
	('assign_sims'), ('assign_sim_range'), ('assign_free_sims'), ('unassign_sims'),
	('create_customer_user'), ('assign_user_to_customers'), ('unassign_user_from_customers'),
	('set_user_status'), ('create_event_consumer'), ('drop_event_consumer'), ('read_events'),
	('ack_events'), ('purge_events'), ('purge_requests'), ('add_identity_key'),
	('revoke_identity_key');

-- Everything the extension keeps: every table and sequence of schema cmp,
-- as one text (sequences by their position), for "changes nothing".
CREATE FUNCTION t.fingerprint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	rel regclass;
	kind "char";
	part text;
	whole text := '';
BEGIN
	FOR rel, kind IN
		SELECT c.oid::regclass, c.relkind FROM pg_class c
		 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'p', 'S')
		 ORDER BY c.relname
	LOOP
		IF kind = 'S' THEN
			EXECUTE format('SELECT last_value::text || is_called::text FROM %s', rel) INTO part;
		ELSE
			EXECUTE format('SELECT count(*) || '':'' || md5(coalesce(string_agg(x::text, ''|'' ORDER BY x::text), '''')) FROM %s x', rel)
				INTO part;
		END IF;
		whole := whole || rel::text || '=' || part || ';';
	END LOOP;
	RETURN whole;
END $$;

-- ---- fixture (system actor, through the functions) -------------------------

SELECT t.become('system');
DO $fixture$
BEGIN
	PERFORM cmp.create_account('AC-A', 'Reseller A', 'RESELLER', true, 'PDF', 1);
	PERFORM cmp.create_account('AC-B', 'Reseller B', 'RESELLER', true, 'RAW', 15);
	PERFORM cmp.create_user('ac_csp', 'ac.csp@example.com', 'CSP');
	PERFORM cmp.create_user('ac_csp2', 'ac.csp2@example.com', 'CSP');
	PERFORM cmp.create_user('ac_a_admin', 'ac.a.admin@example.com', 'ACCOUNT', t.aid('AC-A'), is_admin => true);
	PERFORM cmp.create_user('ac_a_user', 'ac.a.user@example.com', 'ACCOUNT', t.aid('AC-A'));
	PERFORM cmp.create_user('ac_a_other', 'ac.a.other@example.com', 'ACCOUNT', t.aid('AC-A'));
	PERFORM cmp.create_user('ac_b_admin', 'ac.b.admin@example.com', 'ACCOUNT', t.aid('AC-B'), is_admin => true);
	PERFORM cmp.create_user('ac_b_user', 'ac.b.user@example.com', 'ACCOUNT', t.aid('AC-B'));
	-- the LOCKED user: an admin of A, mapped to a role, locked below
	PERFORM cmp.create_user('ac_locked', 'ac.locked@example.com', 'ACCOUNT', t.aid('AC-A'),
		is_admin => true, db_role => 'ro_t_ac_locked');

	-- A: three ACTIVE customers, a DRAFT one, one to be SUSPENDED
	PERFORM cmp.create_customer(account_id => t.aid('AC-A'), name => 'A Active', status => 'ACTIVE',
		admin_login => 'ac_ca_admin', admin_email => 'ac.ca.admin@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('AC-A'), name => 'A Active Two', status => 'ACTIVE',
		admin_login => 'ac_ca2_admin', admin_email => 'ac.ca2.admin@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('AC-A'), name => 'A Active Three', status => 'ACTIVE',
		admin_login => 'ac_ca3_admin', admin_email => 'ac.ca3.admin@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('AC-A'), name => 'A Draft');
	PERFORM cmp.create_customer(account_id => t.aid('AC-A'), name => 'A Suspended', status => 'ACTIVE',
		admin_login => 'ac_cs_admin', admin_email => 'ac.cs.admin@example.com');
	-- B: two ACTIVE customers and a DRAFT one
	PERFORM cmp.create_customer(account_id => t.aid('AC-B'), name => 'B Active', status => 'ACTIVE',
		admin_login => 'ac_cb_admin', admin_email => 'ac.cb.admin@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('AC-B'), name => 'B Active Two', status => 'ACTIVE',
		admin_login => 'ac_cb2_admin', admin_email => 'ac.cb2.admin@example.com');
	PERFORM cmp.create_customer(account_id => t.aid('AC-B'), name => 'B Draft');

	-- the customer admin (of A Active) is also a user of A Active Two and of
	-- A Suspended, not of A Active Three
	PERFORM cmp.assign_user_to_customers(t.uid('ac_ca_admin'),
		ARRAY[t.cid('A Active Two'), t.cid('A Suspended')]);
	-- customer users: the non-admin actor; objects to assign (x: one customer),
	-- to unassign (y: two customers), and a user of the SUSPENDED customer
	PERFORM cmp.create_customer_user(ARRAY[t.cid('A Active')], 'ac_ca_user', 'ac.ca.user@example.com');
	PERFORM cmp.create_customer_user(ARRAY[t.cid('A Active')], 'ac_cx', 'ac.cx@example.com');
	PERFORM cmp.create_customer_user(ARRAY[t.cid('A Active'), t.cid('A Active Two')], 'ac_cy', 'ac.cy@example.com');
	PERFORM cmp.create_customer_user(ARRAY[t.cid('A Suspended')], 'ac_cs_user', 'ac.cs.user@example.com');
	PERFORM cmp.create_customer_user(ARRAY[t.cid('B Active')], 'ac_cbx', 'ac.cbx@example.com');
	PERFORM cmp.create_customer_user(ARRAY[t.cid('B Active'), t.cid('B Active Two')], 'ac_cby', 'ac.cby@example.com');
	PERFORM cmp.set_customer_status(t.cid('A Suspended'), 'SUSPENDED');

	-- SIMs: 1-6 in A (6 on A Active), 101-106 in B (106 on B Active)
	PERFORM cmp.provision_sims(t.aid('AC-A'), ARRAY(SELECT t.iccid(i) FROM generate_series(1, 6) AS i));
	PERFORM cmp.provision_sims(t.aid('AC-B'), ARRAY(SELECT t.iccid(i) FROM generate_series(101, 106) AS i));
	PERFORM cmp.assign_sims(t.cid('A Active'), ARRAY[t.iccid(6)]);
	PERFORM cmp.assign_sims(t.cid('B Active'), ARRAY[t.iccid(106)]);

	-- an identity key to revoke
	PERFORM cmp.add_identity_key('ac-key', 'https://idp.example', 'HS256',
		rtrim(translate(encode(sha256('ac key one'), 'base64'), '+/', '-_'), '='));

	PERFORM cmp.set_user_status(t.uid('ac_locked'), 'LOCKED');
END
$fixture$;

-- every actor that may act owns a consumer named ac_feed
DO $consumers$
DECLARE
	k text;
BEGIN
	FOREACH k IN ARRAY ARRAY['system', 'csp', 'a_admin', 'a_user', 'ca_admin', 'ca_user'] LOOP
		PERFORM t.become(k);
		PERFORM cmp.create_event_consumer('ac_feed');
	END LOOP;
	PERFORM t.become('system');
END
$consumers$;

-- ---- the columns: one call each, with valid arguments ----------------------
-- {n} is replaced by the cell's number, so that names, logins, ICCIDs and
-- key ids are fresh in every cell.  reports: the call reports its failures
-- as rows (import_customers), the first one is its outcome.

CREATE TABLE t.case (
	ord integer PRIMARY KEY,
	op text NOT NULL REFERENCES t.rule_op,
	label text NOT NULL,
	object_id bigint,
	sql text NOT NULL,
	reports boolean NOT NULL DEFAULT false
);

INSERT INTO t.case (ord, op, label, object_id, sql, reports)
SELECT row_number() OVER (), c.op, c.label, c.object_id, c.sql, c.reports
  FROM (VALUES
	('create_account', 'create_account', NULL::bigint,
		$$SELECT cmp.create_account('AC-NEW-{n}', 'New account {n}')$$, false),
	('create_user', 'create_user(own account)', t.aid('AC-A'),
		format($$SELECT cmp.create_user('ac_new_{n}', 'ac.new.{n}@example.com', 'ACCOUNT', %s)$$, t.aid('AC-A')), false),
	('create_user', 'create_user(other account)', t.aid('AC-B'),
		format($$SELECT cmp.create_user('ac_new_{n}', 'ac.new.{n}@example.com', 'ACCOUNT', %s)$$, t.aid('AC-B')), false),
	('create_user', 'create_user(no such account)', -1,
		$$SELECT cmp.create_user('ac_new_{n}', 'ac.new.{n}@example.com', 'ACCOUNT', -1)$$, false),
	('provision_sims', 'provision_sims(own account)', t.aid('AC-A'),
		format($$SELECT cmp.provision_sims(%s, ARRAY['{iccid}'])$$, t.aid('AC-A')), false),
	('provision_sims', 'provision_sims(other account)', t.aid('AC-B'),
		format($$SELECT cmp.provision_sims(%s, ARRAY['{iccid}'])$$, t.aid('AC-B')), false),
	('create_customer', 'create_customer(own account)', t.aid('AC-A'),
		format($$SELECT cmp.create_customer(account_id => %s, name => 'New customer {n}')$$, t.aid('AC-A')), false),
	('create_customer', 'create_customer(other account)', t.aid('AC-B'),
		format($$SELECT cmp.create_customer(account_id => %s, name => 'New customer {n}')$$, t.aid('AC-B')), false),
	('import_customers', 'import_customers(own account)', t.aid('AC-A'),
		format($$SELECT sqlstate, message, detail FROM cmp.import_customers('[{"account_id": %s, "name": "Imported {n}"}]')
		          ORDER BY sqlstate IS NULL, item LIMIT 1$$, t.aid('AC-A')), true),
	('import_customers', 'import_customers(other account)', t.aid('AC-B'),
		format($$SELECT sqlstate, message, detail FROM cmp.import_customers('[{"account_id": %s, "name": "Imported {n}"}]')
		          ORDER BY sqlstate IS NULL, item LIMIT 1$$, t.aid('AC-B')), true),
	('update_customer', 'update_customer(own ACTIVE customer)', t.cid('A Active'),
		format($$SELECT cmp.update_customer(%s, '{"description": "changed in cell {n}"}')$$, t.cid('A Active')), false),
	('update_customer', 'update_customer(other ACTIVE customer)', t.cid('B Active'),
		format($$SELECT cmp.update_customer(%s, '{"description": "changed in cell {n}"}')$$, t.cid('B Active')), false),
	('update_customer', 'update_customer(no such customer)', -1,
		$$SELECT cmp.update_customer(-1, '{"description": "changed in cell {n}"}')$$, false),
	('delete_customer', 'delete_customer(own DRAFT customer)', t.cid('A Draft'),
		format($$SELECT cmp.delete_customer(%s)$$, t.cid('A Draft')), false),
	('delete_customer', 'delete_customer(other DRAFT customer)', t.cid('B Draft'),
		format($$SELECT cmp.delete_customer(%s)$$, t.cid('B Draft')), false),
	('set_customer_status', 'set_customer_status(own, ACTIVE -> SUSPENDED)', t.cid('A Active'),
		format($$SELECT cmp.set_customer_status(%s, 'SUSPENDED', 'cell {n}')$$, t.cid('A Active')), false),
	('set_customer_status', 'set_customer_status(other, ACTIVE -> SUSPENDED)', t.cid('B Active'),
		format($$SELECT cmp.set_customer_status(%s, 'SUSPENDED', 'cell {n}')$$, t.cid('B Active')), false),
	('set_customer_status', 'set_customer_status(own, DRAFT -> TERMINATED)', t.cid('A Draft'),
		format($$SELECT cmp.set_customer_status(%s, 'TERMINATED', 'cell {n}')$$, t.cid('A Draft')), false),
	('set_customer_status', 'set_customer_status(other, DRAFT -> TERMINATED)', t.cid('B Draft'),
		format($$SELECT cmp.set_customer_status(%s, 'TERMINATED', 'cell {n}')$$, t.cid('B Draft')), false),
	('set_customer_status', 'set_customer_status(own, SUSPENDED -> ACTIVE)', t.cid('A Suspended'),
		format($$SELECT cmp.set_customer_status(%s, 'ACTIVE', 'cell {n}')$$, t.cid('A Suspended')), false),
	('assign_sims', 'assign_sims(own ACTIVE customer, a free SIM)', t.cid('A Active'),
		format($$SELECT cmp.assign_sims(%s, ARRAY[%L])$$, t.cid('A Active'), t.iccid(1)), false),
	('assign_sims', 'assign_sims(other ACTIVE customer, a free SIM of its account)', t.cid('B Active'),
		format($$SELECT cmp.assign_sims(%s, ARRAY[%L])$$, t.cid('B Active'), t.iccid(101)), false),
	('assign_sims', 'assign_sims(own DRAFT customer, a free SIM)', t.cid('A Draft'),
		format($$SELECT cmp.assign_sims(%s, ARRAY[%L])$$, t.cid('A Draft'), t.iccid(1)), false),
	('assign_sim_range', 'assign_sim_range(own ACTIVE customer)', t.cid('A Active'),
		format($$SELECT cmp.assign_sim_range(%s, %L, %L)$$, t.cid('A Active'), t.iccid(2), t.iccid(3)), false),
	('assign_sim_range', 'assign_sim_range(other ACTIVE customer)', t.cid('B Active'),
		format($$SELECT cmp.assign_sim_range(%s, %L, %L)$$, t.cid('B Active'), t.iccid(102), t.iccid(103)), false),
	('assign_free_sims', 'assign_free_sims(own ACTIVE customer)', t.cid('A Active'),
		format($$SELECT cmp.assign_free_sims(%s, 1)$$, t.cid('A Active')), false),
	('assign_free_sims', 'assign_free_sims(other ACTIVE customer)', t.cid('B Active'),
		format($$SELECT cmp.assign_free_sims(%s, 1)$$, t.cid('B Active')), false),
	('unassign_sims', 'unassign_sims(a SIM of own account''s customer)', NULL,
		format($$SELECT cmp.unassign_sims(ARRAY[%L])$$, t.iccid(6)), false),
	('create_customer_user', 'create_customer_user(own ACTIVE customer)', t.cid('A Active'),
		format($$SELECT cmp.create_customer_user(ARRAY[%s]::bigint[], 'ac_new_{n}', 'ac.new.{n}@example.com')$$, t.cid('A Active')), false),
	('create_customer_user', 'create_customer_user(other ACTIVE customer)', t.cid('B Active'),
		format($$SELECT cmp.create_customer_user(ARRAY[%s]::bigint[], 'ac_new_{n}', 'ac.new.{n}@example.com')$$, t.cid('B Active')), false),
	('create_customer_user', 'create_customer_user(own SUSPENDED customer)', t.cid('A Suspended'),
		format($$SELECT cmp.create_customer_user(ARRAY[%s]::bigint[], 'ac_new_{n}', 'ac.new.{n}@example.com')$$, t.cid('A Suspended')), false),
	('create_customer_user', 'create_customer_user(own account''s customer the customer admin is not assigned to)', t.cid('A Active Three'),
		format($$SELECT cmp.create_customer_user(ARRAY[%s]::bigint[], 'ac_new_{n}', 'ac.new.{n}@example.com')$$, t.cid('A Active Three')), false),
	('assign_user_to_customers', 'assign_user_to_customers(own customer user, to another ACTIVE customer)', t.uid('ac_cx'),
		format($$SELECT cmp.assign_user_to_customers(%s, ARRAY[%s]::bigint[])$$, t.uid('ac_cx'), t.cid('A Active Two')), false),
	('assign_user_to_customers', 'assign_user_to_customers(other customer user, to another ACTIVE customer)', t.uid('ac_cbx'),
		format($$SELECT cmp.assign_user_to_customers(%s, ARRAY[%s]::bigint[])$$, t.uid('ac_cbx'), t.cid('B Active Two')), false),
	('unassign_user_from_customers', 'unassign_user_from_customers(own customer user, keeping one)', t.uid('ac_cy'),
		format($$SELECT cmp.unassign_user_from_customers(%s, ARRAY[%s]::bigint[])$$, t.uid('ac_cy'), t.cid('A Active Two')), false),
	('unassign_user_from_customers', 'unassign_user_from_customers(other customer user, keeping one)', t.uid('ac_cby'),
		format($$SELECT cmp.unassign_user_from_customers(%s, ARRAY[%s]::bigint[])$$, t.uid('ac_cby'), t.cid('B Active Two')), false),
	('set_user_status', 'set_user_status(own customer user, LOCKED)', t.uid('ac_cx'),
		format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, t.uid('ac_cx')), false),
	('set_user_status', 'set_user_status(other customer user, LOCKED)', t.uid('ac_cbx'),
		format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, t.uid('ac_cbx')), false),
	('set_user_status', 'set_user_status(user of own SUSPENDED customer, LOCKED)', t.uid('ac_cs_user'),
		format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, t.uid('ac_cs_user')), false),
	('set_user_status', 'set_user_status(admin of own account''s customer the customer admin is not assigned to, LOCKED)', t.uid('ac_ca3_admin'),
		format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, t.uid('ac_ca3_admin')), false),
	('set_user_status', 'set_user_status(own ACCOUNT user, LOCKED)', t.uid('ac_a_other'),
		format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, t.uid('ac_a_other')), false),
	('set_user_status', 'set_user_status(other ACCOUNT user, LOCKED)', t.uid('ac_b_user'),
		format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, t.uid('ac_b_user')), false),
	('set_user_status', 'set_user_status(another CSP user, LOCKED)', t.uid('ac_csp2'),
		format($$SELECT cmp.set_user_status(%s, 'LOCKED')$$, t.uid('ac_csp2')), false),
	('set_user_status', 'set_user_status(no such user, LOCKED)', -1,
		$$SELECT cmp.set_user_status(-1, 'LOCKED')$$, false),
	('create_event_consumer', 'create_event_consumer(a new name)', NULL,
		$$SELECT cmp.create_event_consumer('ac_new_{n}')$$, false),
	('drop_event_consumer', 'drop_event_consumer(its own consumer)', NULL,
		$$SELECT cmp.drop_event_consumer('ac_feed')$$, false),
	('read_events', 'read_events(its own consumer)', NULL,
		$$SELECT * FROM cmp.read_events('ac_feed')$$, false),
	('ack_events', 'ack_events(its own consumer)', NULL,
		$$SELECT cmp.ack_events('ac_feed', 0)$$, false),
	('purge_events', 'purge_events', NULL,
		$$SELECT cmp.purge_events('90 days')$$, false),
	('purge_requests', 'purge_requests', NULL,
		$$SELECT cmp.purge_requests()$$, false),
	('add_identity_key', 'add_identity_key(a new key)', NULL,
		format($$SELECT cmp.add_identity_key('ac-new-{n}', 'https://idp.example', 'HS256', %L)$$,
			rtrim(translate(encode(sha256('ac key two'), 'base64'), '+/', '-_'), '=')), false),
	('revoke_identity_key', 'revoke_identity_key(an unrevoked key)', NULL,
		$$SELECT cmp.revoke_identity_key('ac-key')$$, false)
  ) AS c (op, label, object_id, sql, reports);

-- the cells: every actor × every case, with its call made fresh
CREATE TABLE t.cell AS
SELECT a.ord AS actor_ord, a.key AS actor_key, c.ord AS case_ord, c.op, c.object_id, c.reports,
	   replace(replace(c.sql, '{n}', n::text), '{iccid}', t.iccid(900000 + n)) AS sql
  FROM (SELECT a.ord AS a_ord, c.ord AS c_ord,
			   row_number() OVER (ORDER BY a.ord, c.ord)::integer AS n
		  FROM t.actor a CROSS JOIN t.case c) AS numbered
  JOIN t.actor a ON a.ord = numbered.a_ord
  JOIN t.case c ON c.ord = numbered.c_ord;

CREATE TABLE t.result (
	actor_ord integer,
	case_ord integer,
	can boolean,
	sqlstate text,			-- 'ZZ001': the call succeeded (then rolled back)
	message text,
	detail text,
	PRIMARY KEY (actor_ord, case_ord)
);
-- actor_can with no object, per actor and operation
CREATE TABLE t.null_can (
	actor_ord integer,
	op text,
	can boolean,
	PRIMARY KEY (actor_ord, op)
);

-- Run every cell: as its actor, actor_can, then the call in a subtransaction
-- that is always rolled back (by the marker error ZZ001 when it succeeded).
CREATE FUNCTION t.run_matrix() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	cells t.cell[];
	c t.cell;
	v_can boolean;
	v_state text;
	v_msg text;
	v_detail text;
	ops text[];
	op text;
	a t.actor;
BEGIN
	SELECT array_agg(x ORDER BY x.actor_ord, x.case_ord) INTO cells FROM t.cell x;
	FOREACH c IN ARRAY cells LOOP
		PERFORM t.become(c.actor_key);
		v_can := cmp.actor_can(c.op, c.object_id);
		BEGIN
			IF c.reports THEN
				EXECUTE c.sql INTO v_state, v_msg, v_detail;
				IF v_state IS NOT NULL THEN
					RAISE EXCEPTION USING ERRCODE = v_state, MESSAGE = v_msg,
						DETAIL = coalesce(v_detail, '');
				END IF;
			ELSE
				EXECUTE c.sql;
			END IF;
			RAISE EXCEPTION USING ERRCODE = 'ZZ001', MESSAGE = 'the call succeeded';
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
				v_detail = PG_EXCEPTION_DETAIL;
		END;
		PERFORM t.become('system');
		INSERT INTO t.result VALUES (c.actor_ord, c.case_ord, v_can, v_state, v_msg, v_detail);
	END LOOP;

	SELECT array_agg(DISTINCT x.op) INTO ops FROM t.case x;
	FOR a IN SELECT * FROM t.actor ORDER BY ord LOOP
		FOREACH op IN ARRAY ops LOOP
			INSERT INTO t.null_can VALUES (a.ord, op, t.can_as(a.key, op));
		END LOOP;
	END LOOP;
END $$;

SELECT t.run_matrix();

-- refused: for permission (42501) or reach (P0002; a SUSPENDED customer is
-- read-only to its own users, 55000); anything else makes an invalid cell
CREATE VIEW t.outcome AS
SELECT r.*, a.label AS actor_label, c.label AS case_label,
	   CASE WHEN r.sqlstate = 'ZZ001' THEN 'succeeded'
			WHEN r.sqlstate IN ('42501', 'P0002') THEN 'refused'
			WHEN r.sqlstate = '55000' AND r.detail = 'A SUSPENDED customer is read-only to its own users.'
				THEN 'refused'
			ELSE 'invalid' END AS outcome
  FROM t.result r
  JOIN t.actor a ON a.ord = r.actor_ord
  JOIN t.case c ON c.ord = r.case_ord;

-- ---- the matrix: one test per cell -----------------------------------------

CREATE FUNCTION t.report() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	o record;
	passed boolean;
BEGIN
	FOR o IN SELECT * FROM t.outcome ORDER BY actor_ord, case_ord LOOP
		passed := o.outcome <> 'invalid' AND o.can = (o.outcome = 'succeeded');
		RETURN NEXT ok(passed,
			format('%s: %s — actor_can %s, call %s', o.actor_label, o.case_label, o.can,
				CASE o.outcome
					WHEN 'succeeded' THEN 'succeeded'
					WHEN 'refused' THEN 'refused (' || o.sqlstate || ')'
					ELSE 'failed ' || o.sqlstate || ' (not a permission or reach refusal: the cell proves nothing)'
				END));
		IF NOT passed THEN
			RETURN NEXT diag(format('the call said: %s: %s %s', o.sqlstate, o.message, coalesce(o.detail, '')));
		END IF;
	END LOOP;
END $$;

SELECT * FROM t.report();

SELECT is((SELECT count(*) FROM t.result), 416::bigint,
	'matrix: 8 actors × 52 cases = 416 cells were run');
SELECT is_empty($$SELECT actor_label, case_label, sqlstate, message, detail
                    FROM t.outcome WHERE outcome = 'invalid' ORDER BY actor_ord, case_ord$$,
	'matrix: no call failed for a reason other than permission or reach (state or argument: 55000, 22023, 23505, ...), so every cell is a valid test');

-- ---- no object: true when the actor may call it on some object of its reach

SELECT is_empty($$SELECT r.op FROM t.rule_op r
                   WHERE NOT t.can_as('system', r.op) ORDER BY 1$$,
	'no object: the system actor may call every function of the rules table');
SELECT is_empty($$SELECT r.op FROM t.rule_op r
                   WHERE t.can_as('nobody', r.op) ORDER BY 1$$,
	'no object: a session with no actor and no mapping may call none');
SELECT is_empty($$SELECT r.op FROM t.rule_op r
                   WHERE t.can_as('locked', r.op) ORDER BY 1$$,
	'no object: a LOCKED user (an ACCOUNT admin, acting through its db_role) may call none');
SELECT is(t.can_as('csp', 'create_account'), true,
	'no object: a CSP user may create accounts');
SELECT is(t.can_as('csp', 'create_customer_user'), false,
	'no object: a CSP user may not create customer users (SPEC §5)');
SELECT is(t.can_as('a_admin', 'create_user'), true,
	'no object: an ACCOUNT admin may create users (in its account)');
SELECT is(t.can_as('a_user', 'create_user'), false,
	'no object: an ACCOUNT user who is not an admin may not create users');
SELECT is(t.can_as('a_user', 'update_customer'), true,
	'no object: an ACCOUNT user who is not an admin may update customers (of its account)');
SELECT is(t.can_as('ca_admin', 'create_customer_user'), true,
	'no object: a customer admin may create customer users (for its customers)');
SELECT is(t.can_as('ca_admin', 'update_customer'), false,
	'no object: a customer admin may not update customers');
SELECT is(t.can_as('ca_user', 'set_user_status'), false,
	'no object: a customer user who is not an admin may not lock users');
SELECT is(t.can_as('ca_user', 'read_events'), true,
	'no object: a customer user who is not an admin may read its change feed');
SELECT is_empty($$
	SELECT a.label, n.op, n.can AS with_no_object, bool_or(r.can) AS on_some_object_of_the_matrix
	  FROM t.null_can n
	  JOIN t.actor a ON a.ord = n.actor_ord
	  JOIN t.case c ON c.op = n.op
	  JOIN t.result r ON r.actor_ord = n.actor_ord AND r.case_ord = c.ord
	 GROUP BY a.ord, a.label, n.op, n.can
	HAVING n.can IS DISTINCT FROM bool_or(r.can)
	 ORDER BY a.ord, n.op$$,
	'no object: for every actor and operation, actor_can(op) is true exactly when actor_can is true for some object of the matrix');

-- ---- unknown operations ----------------------------------------------------

SELECT throws_ok($$SELECT cmp.actor_can('drop_everything')$$, '22023', NULL,
	'unknown operation: the system actor gets 22023');
SELECT throws_ok($$SELECT t.can_as('nobody', 'drop_everything', 1)$$, '22023', NULL,
	'unknown operation: a session with no actor gets 22023 too, not false');
SELECT throws_ok($$SELECT t.can_as('ca_user', 'customer_status_graph')$$, '22023', NULL,
	'unknown operation: a function of cmp that changes nothing is not an operation (22023)');
SELECT throws_ok($$SELECT t.can_as('a_admin', 'Create_Customer')$$, '22023', NULL,
	'unknown operation: operations are named exactly as in SPEC §6 (22023 for another spelling)');

-- ---- actor_can changes nothing ---------------------------------------------
-- every operation on every object of the fixture (and on none, and on one
-- that does not exist), as each actor: no table or sequence of cmp changes,
-- and the actor stays who it was

CREATE FUNCTION t.ask_everything(actor_key text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	objects bigint[];
	ops text[];
	op text;
	o bigint;
	before_fp text;
	after_fp text;
	who_before bigint;
	who_after bigint;
	asked integer := 0;
BEGIN
	PERFORM t.become('system');
	SELECT array_agg(x) INTO objects FROM (
		SELECT account_id FROM cmp.account
		UNION SELECT customer_id FROM cmp.customer
		UNION SELECT user_id FROM cmp.app_user_data
		UNION SELECT -1) AS s(x);
	SELECT array_agg(r.op ORDER BY r.op) INTO ops FROM t.rule_op r;
	before_fp := t.fingerprint();
	PERFORM t.become(actor_key);
	who_before := cmp.actor_id();
	FOREACH op IN ARRAY ops LOOP
		PERFORM cmp.actor_can(op);
		FOREACH o IN ARRAY objects LOOP
			PERFORM cmp.actor_can(op, o);
			asked := asked + 1;
		END LOOP;
	END LOOP;
	who_after := cmp.actor_id();
	PERFORM t.become('system');
	after_fp := t.fingerprint();
	IF after_fp IS DISTINCT FROM before_fp THEN
		RETURN 'changed: ' || before_fp || ' -> ' || after_fp;
	END IF;
	IF who_after IS DISTINCT FROM who_before THEN
		RETURN format('the actor changed from %s to %s', who_before, who_after);
	END IF;
	RETURN format('unchanged after %s questions', asked);
END $$;

CREATE FUNCTION t.report_unchanged() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	a t.actor;
BEGIN
	FOR a IN SELECT * FROM t.actor ORDER BY ord LOOP
		RETURN NEXT matches(t.ask_everything(a.key), '^unchanged',
			format('actor_can changes nothing: %s, every operation on every object', a.label));
	END LOOP;
END $$;
SELECT * FROM t.report_unchanged();

SELECT * FROM finish();
ROLLBACK;
