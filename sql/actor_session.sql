--
-- The actor across transactions and sessions (SPEC §4): what one pgTAP
-- transaction (test/actor.sql) cannot show.  is_local ends with COMMIT and
-- ROLLBACK, a session actor survives them, RESET ALL and DISCARD ALL clear
-- it, whoami of every kind of actor, and attempts to forge the actor in
-- sessions that have not loaded the library yet.
--
-- Start clean even if an earlier test left the extension in this database;
-- roles are cluster-wide and outlive it: drop any left by an interrupted run.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS reseller_onboarding CASCADE;
DROP ROLE IF EXISTS regress_ro_app;
DROP ROLE IF EXISTS regress_ro_mapped;
DROP ROLE IF EXISTS regress_ro_nobody;
RESET client_min_messages;
CREATE EXTENSION reseller_onboarding;
SELECT current_user AS regress_superuser \gset
CREATE ROLE regress_ro_app LOGIN;       -- the application: may call set_actor
CREATE ROLE regress_ro_mapped LOGIN;    -- db_role of the ACCOUNT user
CREATE ROLE regress_ro_nobody LOGIN;    -- neither
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO regress_ro_app;
-- A fresh database: ids start at 1.  The system actor builds the fixture.
SELECT cmp.create_account(account_number => 'RO-SESS-1', name => 'Reseller One',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'BOTH', customer_billing_cycle_day => 28);
SELECT cmp.create_user(login => 'sess_csp', email => 'sess.csp@example.com',
	context_level => 'CSP');
SELECT cmp.create_user(login => 'sess_account', email => 'sess.account@example.com',
	context_level => 'ACCOUNT', account_id => 1, db_role => 'regress_ro_mapped');
SELECT cmp.create_user(login => 'sess_locked', email => 'sess.locked@example.com',
	context_level => 'CSP');
UPDATE cmp.app_user_data SET status = 'LOCKED' WHERE login = 'sess_locked';
INSERT INTO cmp.app_user_data (login, email, context_level, domain, account_id)
VALUES ('sess_customer', 'sess.customer@example.com', 'CUSTOMER', 'ENTERPRISE', 1)
RETURNING user_id;
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status, admin_user_id, activated_at)
VALUES (1, 'RESELLER', 1, 'Customer One', 'ACTIVE', 4, now()) RETURNING customer_id;
INSERT INTO cmp.customer (account_id, account_type, customer_number, name, status)
VALUES (1, 'RESELLER', 2, 'Customer Two', 'DRAFT') RETURNING customer_id;
INSERT INTO cmp.user_customer (user_id, customer_id, account_id) VALUES (4, 1, 1), (4, 2, 1);
-- a superuser with no actor is the system actor
SELECT * FROM cmp.whoami();
SELECT cmp.actor_id();
--
-- The application role.  With no actor and no mapping it is nobody.
--
\c - regress_ro_app
SELECT * FROM cmp.whoami();
SELECT count(*) FROM cmp.account;
-- is_local (the default) ends with the transaction, so outside a
-- transaction block it has no effect, and says so (25P01, as SET LOCAL)
\set VERBOSITY sqlstate
SELECT cmp.set_actor(1), cmp.actor_id();
\set VERBOSITY default
SELECT cmp.actor_id();
-- ... at COMMIT
BEGIN;
SELECT cmp.set_actor(1);
SELECT cmp.actor_id(), (SELECT count(*) FROM cmp.account) AS accounts;
COMMIT;
SELECT cmp.actor_id(), (SELECT count(*) FROM cmp.account) AS accounts;
-- ... and at ROLLBACK
BEGIN;
SELECT cmp.set_actor(1);
SELECT cmp.actor_id();
ROLLBACK;
SELECT cmp.actor_id();
-- is_local => false lasts for the session, across COMMIT
SELECT cmp.set_actor(2, is_local => false);
BEGIN;
SELECT cmp.actor_id();
COMMIT;
SELECT cmp.actor_id();
-- a local actor overrides it until the transaction ends
BEGIN;
SELECT cmp.set_actor(1);
SELECT cmp.actor_id();
COMMIT;
SELECT cmp.actor_id();
-- a session actor set in a transaction that rolls back is undone
BEGIN;
SELECT cmp.set_actor(1, is_local => false);
ROLLBACK;
SELECT cmp.actor_id();
-- RESET ALL clears the session actor
RESET ALL;
SELECT cmp.actor_id();
-- so does DISCARD ALL (what a connection pooler sends between clients)
SELECT cmp.set_actor(2, is_local => false);
SELECT cmp.actor_id();
DISCARD ALL;
SELECT cmp.actor_id();
-- and clear_actor
SELECT cmp.set_actor(2, is_local => false);
SELECT cmp.clear_actor();
SELECT cmp.actor_id();
-- a statement prepared once and executed in transactions of different
-- actors (a pooler in transaction mode keeps prepared statements)
PREPARE customers AS SELECT pg_catalog.count(*) FROM cmp.customer;
BEGIN;
SELECT cmp.set_actor(4);
EXECUTE customers;
COMMIT;
BEGIN;
SELECT cmp.set_actor(1);
EXECUTE customers;
COMMIT;
BEGIN;
SELECT cmp.set_actor(2);
EXECUTE customers;
COMMIT;
EXECUTE customers;
BEGIN;
SELECT cmp.set_actor(4);
EXECUTE customers;
COMMIT;
DEALLOCATE customers;
-- whoami of each kind: CSP, ACCOUNT, CUSTOMER (assigned customers, whatever
-- their status)
SELECT cmp.set_actor(1, is_local => false);
SELECT * FROM cmp.whoami();
SELECT cmp.set_actor(2, is_local => false);
SELECT * FROM cmp.whoami();
SELECT cmp.set_actor(4, is_local => false);
SELECT * FROM cmp.whoami();
-- refused: a LOCKED user, an unknown user; the actor stays
SELECT cmp.set_actor(3);
SELECT cmp.set_actor(99);
SELECT cmp.actor_id();
-- not forgeable by the application role once the library is loaded
SET cmp.actor = '1';
BEGIN;
SET LOCAL cmp.actor = '1';
ROLLBACK;
SELECT set_config('cmp.actor', '1', false);
ALTER ROLE regress_ro_app SET cmp.actor = '1';
RESET cmp.actor;
SET cmp.other = 'x';
SELECT cmp.actor_id();
--
-- A role mapped by db_role acts as its user without set_actor
--
\c - regress_ro_mapped
SELECT * FROM cmp.whoami();
SELECT count(*) FROM cmp.account;
--
-- The statement that loads the library is planned before the extension's
-- planner hook is installed: its policies fold nothing and check each row
-- against the actor (cmp.actor_sees).  Later statements fold the kind of
-- actor into the plan and read its account once per execution (an
-- InitPlan).
--
\c - regress_ro_mapped
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM cmp.customer;
SELECT count(*) FROM cmp.customer;
EXPLAIN (COSTS OFF) SELECT count(*) FROM cmp.customer;
SELECT count(*) FROM cmp.customer;
RESET enable_indexscan;
RESET enable_indexonlyscan;
RESET enable_bitmapscan;
--
-- Before the library is loaded, cmp.actor is only a placeholder that anyone
-- may set.  Loading the library must not honour what a non-superuser put
-- there.  Each \c starts a session that has not loaded it.
--
\c - regress_ro_nobody
SET cmp.actor = '1';
SHOW cmp.actor;
-- the first call of an extension function loads the library
SELECT * FROM cmp.whoami();
SHOW cmp.actor;
SELECT count(*) FROM cmp.account;
-- SET LOCAL in the transaction that loads the library
\c - regress_ro_nobody
BEGIN;
SET LOCAL cmp.actor = '1';
SELECT cmp.actor_id();
SELECT count(*) FROM cmp.account;
COMMIT;
-- set_config, and a placeholder of another name under the reserved prefix
\c - regress_ro_nobody
SELECT set_config('cmp.actor', '1', false);
SET cmp.anything = 'x';
SELECT cmp.actor_id();
SHOW cmp.anything;
-- an option given when connecting
\c -reuse-previous=on "user=regress_ro_nobody options='-c cmp.actor=1'"
SHOW cmp.actor;
SELECT cmp.actor_id();
SELECT count(*) FROM cmp.account;
-- ALTER ROLE ... SET for itself, before the library is loaded (and a
-- connection without that option: psql's \c keeps the previous options)
\c -reuse-previous=on "options=''"
SHOW cmp.actor;
ALTER ROLE regress_ro_nobody SET cmp.actor = '1';
ALTER ROLE regress_ro_nobody IN DATABASE :"DBNAME" SET cmp.actor = '1';
CREATE FUNCTION pg_temp.forged() RETURNS bigint LANGUAGE sql
	SET cmp.actor = '1' AS 'SELECT cmp.actor_id()';
SHOW cmp.actor;
--
-- Back as the superuser: nothing was stored for the roles; the superuser
-- is the system actor, and may act as a user by setting cmp.actor itself.
--
\c - :regress_superuser
SELECT r.rolname, s.setconfig
  FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
 WHERE r.rolname LIKE 'regress\_ro\_%';
SELECT * FROM cmp.whoami();
SET cmp.actor = '4';
SELECT * FROM cmp.whoami();
RESET cmp.actor;
SELECT * FROM cmp.whoami();
DROP OWNED BY regress_ro_app, regress_ro_mapped, regress_ro_nobody;
DROP ROLE regress_ro_app;
DROP ROLE regress_ro_mapped;
DROP ROLE regress_ro_nobody;
-- leave the database as we found it, for the tests that follow
DROP EXTENSION reseller_onboarding;
