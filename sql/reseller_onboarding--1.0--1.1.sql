-- reseller_onboarding 1.0 -> 1.1
--
-- The actor reaches the plans by kind, and its values by execution
-- (src/fold.c): the policies fold the acting user's kind at plan time and
-- read its account or customers once per execution, from one-time
-- sub-selects on the functions below, for the execution's own snapshot.
-- The value functions are called by every query of the policies, so
-- EXECUTE on them must stay granted to PUBLIC.
-- No function that depends on the actor is IMMUTABLE any more.

\echo Use "ALTER EXTENSION reseller_onboarding UPDATE TO '1.1'" to load this file. \quit

-- Schema cmp must be the extension's alone (SPEC §1): owned by a
-- superuser, with CREATE granted to no other role, and holding nothing but
-- the extension's objects (and what they imply: row types, indexes, owned
-- sequences). CREATE EXTENSION (which creates cmp when it is missing) and
-- this update both refuse anything else with 42P06: an owner of its own
-- could rename the schema or add look-alikes such as cmp.set_actor(integer).
-- (An empty schema cmp of a superuser is accepted: pg_restore and DROP
-- EXTENSION leave one, see README "Installing and upgrading".)
DO $guard$
DECLARE
	nsp oid := 'cmp'::pg_catalog.regnamespace;
	ext oid := (SELECT e.oid FROM pg_catalog.pg_extension e
	             WHERE e.extname OPERATOR(pg_catalog.=) 'reseller_onboarding');
	why text;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_namespace n
	          JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	         WHERE n.oid OPERATOR(pg_catalog.=) nsp) THEN
		why := 'is owned by a role that is not a superuser';
	ELSIF EXISTS (SELECT FROM pg_catalog.pg_namespace n,
	                     pg_catalog.aclexplode(n.nspacl) AS a
	               WHERE n.oid OPERATOR(pg_catalog.=) nsp
	                 AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
	                 AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
	                                    WHERE r.oid OPERATOR(pg_catalog.=) a.grantee), false)) THEN
		why := 'lets a role that is not a superuser create objects in it';
	ELSIF EXISTS (
		SELECT FROM (
			SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, c.oid
			  FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid
			  FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid
			  FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_collation o WHERE o.collnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_conversion o WHERE o.connamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_opfamily o WHERE o.opfnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_opclass o WHERE o.opcnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_ts_config o WHERE o.cfgnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_ts_dict o WHERE o.dictnamespace OPERATOR(pg_catalog.=) nsp
			UNION ALL
			SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, o.oid
			  FROM pg_catalog.pg_statistic_ext o WHERE o.stxnamespace OPERATOR(pg_catalog.=) nsp
		) AS obj
		WHERE NOT EXISTS (
			SELECT FROM pg_catalog.pg_depend d
			 WHERE d.classid OPERATOR(pg_catalog.=) obj.classid
			   AND d.objid OPERATOR(pg_catalog.=) obj.oid
			   AND ((d.deptype OPERATOR(pg_catalog.=) 'e'
			         AND d.refobjid OPERATOR(pg_catalog.=) ext)
			        OR d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['i', 'a']::"char"[])))) THEN
		why := 'holds objects that are not the extension''s';
	END IF;
	IF why IS NOT NULL THEN
		RAISE EXCEPTION 'schema "cmp" already exists'
			USING ERRCODE = 'duplicate_schema',
			      DETAIL = format('The existing schema cmp %s; reseller_onboarding adopts only an empty schema cmp of a superuser.', why),
			      HINT = 'Drop or rename that schema cmp, then create the extension.';
	END IF;
END
$guard$;

-- app_user's policy read the actor from IMMUTABLE functions folded by the
-- planner; it is now two calls with a planner support function, like the
-- others.
DROP POLICY app_user_visible ON cmp.app_user;
DROP FUNCTION cmp.actor_policy_kind();
DROP FUNCTION cmp.actor_policy_customer_id();
DROP FUNCTION cmp.actor_policy_customer_ids();
DROP FUNCTION cmp.actor_must_be(text, bigint, bigint[]);

COMMENT ON FUNCTION cmp.actor_sees(bigint, bigint) IS
	'internal: the row-level security policies; the planner folds it by kind of acting user';
COMMENT ON FUNCTION cmp.actor_sees(bigint, bigint, bigint) IS
	'internal: the row-level security policy of rows of two customers';

-- Is this user assigned to one of the acting customer user's customers?
CREATE FUNCTION cmp.actor_sees_user(user_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_sees_user'
	LANGUAGE C STABLE PARALLEL RESTRICTED SUPPORT cmp.actor_sees_support;
COMMENT ON FUNCTION cmp.actor_sees_user(bigint) IS
	'internal: app_user''s policy for customer users; the planner folds it';

-- The values a folded policy compares with, read once per execution for
-- the execution's snapshot: the account of an active ACCOUNT user, the
-- customer(s) of an active CUSTOMER user and the users assigned to them;
-- NULL or empty for anyone else.
CREATE FUNCTION cmp.actor_account_id() RETURNS bigint
	AS 'MODULE_PATHNAME', 'actor_account_id'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION cmp.actor_customer_id() RETURNS bigint
	AS 'MODULE_PATHNAME', 'actor_customer_id'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION cmp.actor_customer_ids() RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'actor_customer_ids'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION cmp.actor_is_csp() RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_is_csp'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
-- A CSP user's policy: actor_gate((SELECT cmp.actor_is_csp())). It returns
-- its argument; its support function tells the planner that it keeps every
-- row at no cost (a bare boolean Param would be estimated at half).
CREATE FUNCTION cmp.actor_gate_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'actor_gate_support'
	LANGUAGE C STRICT;
CREATE FUNCTION cmp.actor_gate(allowed boolean) RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_gate'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE SUPPORT cmp.actor_gate_support;
COMMENT ON FUNCTION cmp.actor_gate(boolean) IS
	'internal: a CSP user''s policy condition; returns its argument';
COMMENT ON FUNCTION cmp.actor_gate_support(internal) IS
	'internal: planner support of cmp.actor_gate (selectivity 1, no cost)';
CREATE FUNCTION cmp.actor_user_ids() RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'actor_user_ids'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION cmp.actor_is_csp() IS
	'internal: whether an active CSP user (or the system actor) is acting';
COMMENT ON FUNCTION cmp.actor_account_id() IS
	'internal: the account an active ACCOUNT user sees, else NULL';
COMMENT ON FUNCTION cmp.actor_customer_id() IS
	'internal: the customer a CUSTOMER user with one customer sees, else NULL';
COMMENT ON FUNCTION cmp.actor_customer_ids() IS
	'internal: the customers an active CUSTOMER user sees (ACTIVE or SUSPENDED, assigned)';
COMMENT ON FUNCTION cmp.actor_user_ids() IS
	'internal: the users assigned to the customers an active CUSTOMER user sees';

CREATE POLICY app_user_visible ON cmp.app_user FOR SELECT
	USING (cmp.actor_sees(account_id, NULL) OR cmp.actor_sees_user(user_id));

-- The actor is resolved for each statement's snapshot, so changes of
-- assignments, statuses and customers need no signal any more. Only a change
-- of a role mapping does: sessions acting through their role learn what kind
-- of actor it now maps to.
DROP TRIGGER user_customer_actor_cache ON cmp.user_customer;
DROP TRIGGER customer_actor_cache ON cmp.customer;
DROP TRIGGER app_user_actor_cache ON cmp.app_user;
CREATE TRIGGER app_user_mapping_added AFTER INSERT ON cmp.app_user
	FOR EACH ROW WHEN (NEW.db_role IS NOT NULL)
	EXECUTE FUNCTION cmp.actor_cache_invalidate();
CREATE TRIGGER app_user_mapping_removed AFTER DELETE ON cmp.app_user
	FOR EACH ROW WHEN (OLD.db_role IS NOT NULL)
	EXECUTE FUNCTION cmp.actor_cache_invalidate();
CREATE TRIGGER app_user_mapping_truncated AFTER TRUNCATE ON cmp.app_user
	FOR EACH STATEMENT EXECUTE FUNCTION cmp.actor_cache_invalidate();
COMMENT ON SEQUENCE cmp.actor_cache_signal IS
	'internal: its relcache invalidation tells every session that a role mapping changed';

-- The version of the SQL objects; the library refuses to run with another.
CREATE FUNCTION cmp.version() RETURNS text
	AS 'MODULE_PATHNAME', 'cmp_version'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cmp.version() IS 'the version of the loaded reseller_onboarding library';

-- A db_role mapping belongs to the role that existed when it was made
-- (SPEC §4): it records the role's OID, and a role dropped and created
-- again under the same name maps to nobody. Mappings made before 1.1 are
-- bound to the role of that name at the time of the update (0, which no
-- role has, if there is none).
ALTER TABLE cmp.app_user ADD COLUMN db_role_oid oid;
UPDATE cmp.app_user u
   SET db_role_oid = coalesce((SELECT r.oid FROM pg_catalog.pg_roles r
                                WHERE r.rolname OPERATOR(pg_catalog.=) u.db_role), 0)
 WHERE u.db_role IS NOT NULL;
ALTER TABLE cmp.app_user ADD CONSTRAINT app_user_db_role_oid
	CHECK ((db_role IS NULL) = (db_role_oid IS NULL));
-- A mapping written by hand (a superuser's UPDATE of db_role) is bound to
-- the role of that name too; an OID given explicitly (a restore) is kept.
CREATE FUNCTION cmp.app_user_bind_role() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF NEW.db_role IS NULL THEN
		NEW.db_role_oid := NULL;
	ELSIF (TG_OP = 'INSERT' AND NEW.db_role_oid IS NULL)
	   OR (TG_OP = 'UPDATE' AND NEW.db_role IS DISTINCT FROM OLD.db_role
	       AND NEW.db_role_oid IS NOT DISTINCT FROM OLD.db_role_oid) THEN
		NEW.db_role_oid := coalesce((SELECT r.oid FROM pg_catalog.pg_roles r
		                              WHERE r.rolname OPERATOR(pg_catalog.=) NEW.db_role), 0);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION cmp.app_user_bind_role() IS
	'internal: binds a db_role mapping to the OID of the role of that name';
REVOKE EXECUTE ON FUNCTION cmp.app_user_bind_role() FROM PUBLIC;
CREATE TRIGGER app_user_bind_role BEFORE INSERT OR UPDATE OF db_role, db_role_oid ON cmp.app_user
	FOR EACH ROW EXECUTE FUNCTION cmp.app_user_bind_role();
COMMENT ON COLUMN cmp.app_user.db_role_oid IS
	'the OID of the role db_role named when the mapping was made; another role of that name maps nobody';
CREATE TRIGGER app_user_mapping_changed AFTER UPDATE OF db_role, db_role_oid ON cmp.app_user
	FOR EACH ROW WHEN (OLD.db_role IS DISTINCT FROM NEW.db_role
	                   OR OLD.db_role_oid IS DISTINCT FROM NEW.db_role_oid)
	EXECUTE FUNCTION cmp.actor_cache_invalidate();

-- \df+ and \d+ as documentation: every function and relation of the API
-- has a comment (internal ones say so).
COMMENT ON FUNCTION cmp.iccid_problem(text) IS
	'why a value is not a valid ICCID (length, prefix 89, digits, Luhn check digit), or NULL';
COMMENT ON FUNCTION cmp.imsi_is_valid(text) IS '15 digits';
COMMENT ON FUNCTION cmp.msisdn_is_valid(text) IS '8 to 15 digits';
COMMENT ON FUNCTION cmp.phone_is_valid(text) IS 'an E.164 number: + and 2 to 15 digits';
COMMENT ON FUNCTION cmp.url_is_valid(text) IS 'an absolute http or https URL with a host';
COMMENT ON FUNCTION cmp.email_is_valid(text) IS 'an email address of the form name@domain';
COMMENT ON FUNCTION cmp.country_is_valid(text) IS 'an assigned ISO 3166-1 alpha-2 country code';
COMMENT ON FUNCTION cmp.currency_is_valid(text) IS 'an active ISO 4217 currency code';
COMMENT ON FUNCTION cmp.clear_actor() IS 'no CMP user acts any more in this session (until the next cmp.set_actor)';
COMMENT ON FUNCTION cmp.actor_id() IS 'the acting CMP user, NULL for nobody, the system actor or a LOCKED user';
COMMENT ON FUNCTION cmp.whoami() IS
	'the acting CMP user: user id, login, context level (or SYSTEM), account, assigned customers';
COMMENT ON FUNCTION cmp.actor_sees_support(internal) IS
	'internal: planner support of the policies, folds cmp.actor_sees by kind of acting user';
COMMENT ON FUNCTION cmp.actor_is_active() IS
	'internal: the policy of customer_status_transition (any active CMP user reads it)';
COMMENT ON FUNCTION cmp.actor_cache_invalidate() IS
	'internal: trigger that tells every session a db_role mapping changed';
COMMENT ON FUNCTION cmp.create_account(text, text, text, boolean, text, integer) IS
	'CSP users: a STANDARD account, or a RESELLER account with its reseller profile; returns its id';
COMMENT ON FUNCTION cmp.create_user(text, text, text, bigint, text, boolean, name) IS
	'a CSP or ACCOUNT user (CSP users; ACCOUNT admins for their own account); returns its id';
COMMENT ON FUNCTION cmp.provision_sims(bigint, text[], text[], text[]) IS
	'CSP users: add SIM cards to an account, all or nothing; returns how many were added';
COMMENT ON FUNCTION cmp.create_customer(bigint, text, boolean, text, text, text, text, text, text, text, text, text, text, text, numeric, text, text, text, text) IS
	'ACCOUNT users of the account: a customer with the next customer number, and with admin_login/admin_email its Customer Admin User; returns its id';
COMMENT ON FUNCTION cmp.update_customer(bigint, jsonb) IS
	'ACCOUNT users: change the fields named in changes (JSON null clears an optional one)';
COMMENT ON FUNCTION cmp.delete_customer(bigint) IS
	'ACCOUNT users: delete a DRAFT customer that holds no SIM cards';
COMMENT ON FUNCTION cmp.set_customer_status(bigint, text, text, boolean) IS
	'ACCOUNT users: a lifecycle transition (cmp.customer_status_transition); returns the previous status';
COMMENT ON FUNCTION cmp.create_customer_user(bigint[], text, text, text, boolean, name) IS
	'ACCOUNT users and customer admins: a CUSTOMER user assigned to these customers; returns its id';
COMMENT ON FUNCTION cmp.assign_user_to_customers(bigint, bigint[]) IS
	'assign a customer user to more customers of its account; returns how many were new';
COMMENT ON FUNCTION cmp.unassign_user_from_customers(bigint, bigint[]) IS
	'remove customers from a customer user, which keeps at least one; returns how many were removed';
COMMENT ON FUNCTION cmp.set_user_status(bigint, text) IS
	'lock (LOCKED) or unlock (ACTIVE) a user; returns the previous status';
COMMENT ON FUNCTION cmp.assign_sims(bigint, text[], boolean) IS
	'ACCOUNT users: move SIM cards of the account to a DRAFT or ACTIVE customer (reassign: from other customers too); returns how many moved';
COMMENT ON FUNCTION cmp.unassign_sims(text[]) IS
	'ACCOUNT users: return SIM cards to their account; returns how many moved';
COMMENT ON VIEW cmp.sim_grid IS
	'the SIM Grid: each SIM with its account number (NULL for customer users) and its customer''s number, name and status';
COMMENT ON VIEW cmp.customer_overview IS 'each customer with its SIM and user counts';
COMMENT ON TABLE cmp.customer_status_history IS
	'every lifecycle transition of every customer: from, to, when, which CMP user, which database role, why';
COMMENT ON TABLE cmp.sim_assignment_history IS
	'every move of a SIM card between its account and customers, one row per SIM per call';

-- ---------------------------------------------------------------------------
-- Time partitions (SPEC §14). The SIM history and the audit log (and the
-- change feed, below) grow with every change for years, so they are
-- partitioned by the month (UTC) of the change: retiring a month is a
-- DETACH and a DROP, never a DELETE, and a month's indexes stay the size
-- of a month.
-- The indexes are each partition's own, copied from its default partition
-- when a month is made, not partitioned indexes of the parent: pg_dump
-- would write a month's copy of a partitioned index of an extension's
-- table as an index of its own, which the restore's ATTACH has already
-- made (so the restore fails). A key is therefore unique within its month;
-- the ids come from sequences.
-- The 1.0 table becomes the DEFAULT partition, rows and all (nothing is
-- copied by this update). cmp.maintain_partitions() (below), which a
-- scheduler calls, creates the months ahead, moves rows out of the default
-- partition into their months, and retires months past their retention.
-- Months are created by that function, never by an extension script, so
-- they are not members of the extension: pg_dump writes each month, its
-- rows and its ATTACH like any table, and a restore puts the months back
-- whatever day it runs. The default partitions are members, their rows
-- dumped as configuration like every member table's.
-- ---------------------------------------------------------------------------
ALTER TABLE cmp.sim_assignment_history RENAME TO sim_assignment_history_default;
ALTER INDEX cmp.sim_assignment_history_pkey RENAME TO sim_assignment_history_default_pkey;
ALTER INDEX cmp.sim_assignment_history_iccid_idx RENAME TO sim_assignment_history_default_iccid_idx;
ALTER INDEX cmp.sim_assignment_history_account_idx RENAME TO sim_assignment_history_default_account_idx;
ALTER INDEX cmp.sim_assignment_history_from_idx RENAME TO sim_assignment_history_default_from_idx;
ALTER INDEX cmp.sim_assignment_history_to_idx RENAME TO sim_assignment_history_default_to_idx;
-- No foreign key to cmp.account any more: dropping a retired month would
-- drop the key's triggers on cmp.account, which locks every reader of
-- accounts out. The functions write only moves of SIMs of existing
-- accounts, and accounts are never deleted.
ALTER TABLE cmp.sim_assignment_history_default DROP CONSTRAINT sim_assignment_history_account_id_fkey;
CREATE TABLE cmp.sim_assignment_history_data (
	LIKE cmp.sim_assignment_history_default INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS
) PARTITION BY RANGE (changed_at);
ALTER TABLE cmp.sim_assignment_history_data
	ATTACH PARTITION cmp.sim_assignment_history_default DEFAULT;
ALTER TABLE cmp.sim_assignment_history_data ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.sim_assignment_history_data FORCE ROW LEVEL SECURITY;
CREATE POLICY sim_assignment_history_visible ON cmp.sim_assignment_history_data FOR SELECT
	USING (cmp.actor_sees(account_id, from_customer_id, to_customer_id));
REVOKE ALL ON cmp.sim_assignment_history_default FROM PUBLIC;
DROP POLICY sim_assignment_history_visible ON cmp.sim_assignment_history_default;
SELECT pg_catalog.pg_extension_config_dump('cmp.sim_assignment_history_data', '');
COMMENT ON TABLE cmp.sim_assignment_history_default IS
	'internal: rows of cmp.sim_assignment_history_data of months that have no partition yet (cmp.maintain_partitions moves them)';

ALTER TABLE cmp.audit_log RENAME TO audit_log_default;
ALTER INDEX cmp.audit_log_pkey RENAME TO audit_log_default_pkey;
ALTER INDEX cmp.audit_log_account_idx RENAME TO audit_log_default_account_idx;
ALTER INDEX cmp.audit_log_customer_idx RENAME TO audit_log_default_customer_idx;
CREATE TABLE cmp.audit_log (
	LIKE cmp.audit_log_default INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS
) PARTITION BY RANGE (occurred_at);
ALTER TABLE cmp.audit_log ATTACH PARTITION cmp.audit_log_default DEFAULT;
ALTER TABLE cmp.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_visible ON cmp.audit_log FOR SELECT
	USING (cmp.actor_sees(account_id, customer_id));
GRANT SELECT ON cmp.audit_log TO PUBLIC;
REVOKE ALL ON cmp.audit_log_default FROM PUBLIC;
DROP POLICY audit_log_visible ON cmp.audit_log_default;
SELECT pg_catalog.pg_extension_config_dump('cmp.audit_log', '');
COMMENT ON TABLE cmp.audit_log IS 'one row per changing call; append-only; partitioned by month';
COMMENT ON TABLE cmp.audit_log_default IS
	'internal: rows of cmp.audit_log of months that have no partition yet (cmp.maintain_partitions moves them)';

-- ---------------------------------------------------------------------------
-- Masking (SPEC §5): rows a tenant may read never name what it may not see.
-- app_user and sim_assignment_history become views over the tables, which
-- no role but the owner reads any more:
--  - a move to or from a customer the reader cannot see shows NULL for that
--    customer (the same folded condition as the policies: for a customer
--    user, customer_id = its customer);
--  - db_role and db_role_oid show only to CSP users (and the system actor)
--    and to the user itself.
-- The views are security barriers: a reader's own functions in a WHERE
-- clause see only the rows and values the view shows. They run with the
-- owner's rights (a security_invoker view would need SELECT on the table
-- behind it, which would show what the view hides), so each carries the
-- table's visibility condition itself; the tables keep their policies.
-- ---------------------------------------------------------------------------
ALTER TABLE cmp.app_user RENAME TO app_user_data;
REVOKE SELECT ON cmp.app_user_data FROM PUBLIC;
COMMENT ON TABLE cmp.app_user_data IS
	'internal: the CMP users; read them through the view cmp.app_user';
COMMENT ON TABLE cmp.sim_assignment_history_data IS
	'internal: every move of a SIM card; read them through the view cmp.sim_assignment_history';

CREATE VIEW cmp.app_user WITH (security_barrier) AS
SELECT u.user_id, u.login, u.email, u.full_name, u.is_admin, u.status,
	   CASE WHEN (SELECT cmp.actor_is_csp()) OR u.user_id OPERATOR(pg_catalog.=) (SELECT cmp.actor_id())
			THEN u.db_role END AS db_role,
	   u.context_level, u.domain, u.account_id,
	   u.created_at, u.created_by, u.updated_at, u.updated_by,
	   CASE WHEN (SELECT cmp.actor_is_csp()) OR u.user_id OPERATOR(pg_catalog.=) (SELECT cmp.actor_id())
			THEN u.db_role_oid END AS db_role_oid
  FROM cmp.app_user_data u
 WHERE cmp.actor_sees(u.account_id, NULL) OR cmp.actor_sees_user(u.user_id);

CREATE VIEW cmp.sim_assignment_history WITH (security_barrier) AS
SELECT h.history_id, h.iccid, h.account_id,
	   CASE WHEN cmp.actor_sees(h.account_id, h.from_customer_id)
			THEN h.from_customer_id END AS from_customer_id,
	   CASE WHEN cmp.actor_sees(h.account_id, h.to_customer_id)
			THEN h.to_customer_id END AS to_customer_id,
	   h.changed_at, h.changed_by
  FROM cmp.sim_assignment_history_data h
 WHERE cmp.actor_sees(h.account_id, h.from_customer_id, h.to_customer_id);

GRANT SELECT ON cmp.app_user, cmp.sim_assignment_history TO PUBLIC;
COMMENT ON VIEW cmp.app_user IS
	'the CMP users the actor sees; another user''s db_role reads NULL to tenants';
COMMENT ON VIEW cmp.sim_assignment_history IS
	'every move of a SIM card between its account and customers, one row per SIM per call; a customer the reader cannot see reads NULL';

-- ---------------------------------------------------------------------------
-- \d+ as documentation: every column a reader sees has a comment.
-- ---------------------------------------------------------------------------
COMMENT ON COLUMN cmp.account.account_id IS 'the account''s id';
COMMENT ON COLUMN cmp.account.account_number IS 'the account''s own number, unique (case-insensitive)';
COMMENT ON COLUMN cmp.account.name IS 'the account''s name';
COMMENT ON COLUMN cmp.account.account_type IS 'STANDARD or RESELLER; only a RESELLER account has billable customers';
COMMENT ON COLUMN cmp.account.customer_invoice_creation IS 'reseller profile: whether invoices are created for its customers';
COMMENT ON COLUMN cmp.account.customer_invoice_type IS 'reseller profile: the invoice format for its customers';
COMMENT ON COLUMN cmp.account.customer_billing_cycle_day IS 'reseller profile: day of the month its customers are billed (1-28)';
COMMENT ON COLUMN cmp.account.last_customer_number IS 'the last customer number handed out in this account';
COMMENT ON COLUMN cmp.account.created_at IS 'when the account was created';
COMMENT ON COLUMN cmp.account.created_by IS 'the CMP user who created it (NULL: the system actor)';

COMMENT ON COLUMN cmp.app_user.user_id IS 'the user''s id';
COMMENT ON COLUMN cmp.app_user.login IS 'login name, unique (case-insensitive)';
COMMENT ON COLUMN cmp.app_user.email IS 'email address';
COMMENT ON COLUMN cmp.app_user.full_name IS 'full name';
COMMENT ON COLUMN cmp.app_user.is_admin IS 'an admin of its account or customers';
COMMENT ON COLUMN cmp.app_user.status IS 'ACTIVE or LOCKED; a LOCKED user cannot act';
COMMENT ON COLUMN cmp.app_user.db_role IS 'the database role mapped to this user; NULL to tenants for every user but themselves';
COMMENT ON COLUMN cmp.app_user.context_level IS 'CSP, ACCOUNT or CUSTOMER: what the user acts on';
COMMENT ON COLUMN cmp.app_user.domain IS 'CSP for CSP users, ENTERPRISE for the others';
COMMENT ON COLUMN cmp.app_user.account_id IS 'the user''s account (NULL for CSP users)';
COMMENT ON COLUMN cmp.app_user.created_at IS 'when the user was created';
COMMENT ON COLUMN cmp.app_user.created_by IS 'the CMP user who created it (NULL: the system actor)';
COMMENT ON COLUMN cmp.app_user.updated_at IS 'when the user was last changed';
COMMENT ON COLUMN cmp.app_user.updated_by IS 'the CMP user who changed it last';
COMMENT ON COLUMN cmp.app_user.db_role_oid IS
	'the OID of the role db_role named when the mapping was made; masked like db_role';

COMMENT ON COLUMN cmp.customer.customer_id IS 'the customer''s id';
COMMENT ON COLUMN cmp.customer.account_id IS 'the account the customer belongs to';
COMMENT ON COLUMN cmp.customer.account_type IS 'a copy of the account''s type (only a RESELLER''s customers may be billable)';
COMMENT ON COLUMN cmp.customer.customer_number IS 'the next number of its account when created; never changes';
COMMENT ON COLUMN cmp.customer.external_customer_number IS 'the account''s own reference, unique per account';
COMMENT ON COLUMN cmp.customer.name IS 'name, unique (case-insensitive) per account among customers not TERMINATED';
COMMENT ON COLUMN cmp.customer.description IS 'free text, up to 2000 characters';
COMMENT ON COLUMN cmp.customer.country IS 'ISO 3166-1 alpha-2 country code';
COMMENT ON COLUMN cmp.customer.state IS 'state or region';
COMMENT ON COLUMN cmp.customer.zip_code IS 'postal code';
COMMENT ON COLUMN cmp.customer.city IS 'city';
COMMENT ON COLUMN cmp.customer.street IS 'street and number';
COMMENT ON COLUMN cmp.customer.phone IS 'E.164 phone number';
COMMENT ON COLUMN cmp.customer.homepage IS 'http or https URL';
COMMENT ON COLUMN cmp.customer.linkedin IS 'http or https URL';
COMMENT ON COLUMN cmp.customer.estimated_annual_revenue IS 'estimated annual revenue, with revenue_currency';
COMMENT ON COLUMN cmp.customer.revenue_currency IS 'ISO 4217 currency of estimated_annual_revenue';
COMMENT ON COLUMN cmp.customer.billable IS 'billed by its reseller (RESELLER accounts only; needs a complete address to be ACTIVE)';
COMMENT ON COLUMN cmp.customer.status IS 'DRAFT, ACTIVE, SUSPENDED or TERMINATED (cmp.customer_status_transition)';
COMMENT ON COLUMN cmp.customer.admin_user_id IS 'its Customer Admin User (required once ACTIVE)';
COMMENT ON COLUMN cmp.customer.created_at IS 'when the customer was created';
COMMENT ON COLUMN cmp.customer.created_by IS 'the CMP user who created it';
COMMENT ON COLUMN cmp.customer.updated_at IS 'when it was last changed';
COMMENT ON COLUMN cmp.customer.updated_by IS 'the CMP user who changed it last';
COMMENT ON COLUMN cmp.customer.activated_at IS 'when it first became ACTIVE';
COMMENT ON COLUMN cmp.customer.activated_by IS 'the CMP user who first activated it';
COMMENT ON COLUMN cmp.customer.terminated_at IS 'when it was TERMINATED';
COMMENT ON COLUMN cmp.customer.terminated_by IS 'the CMP user who terminated it';

COMMENT ON COLUMN cmp.user_customer.user_id IS 'a CUSTOMER-level user';
COMMENT ON COLUMN cmp.user_customer.customer_id IS 'a customer of the user''s account it is assigned to';
COMMENT ON COLUMN cmp.user_customer.account_id IS 'the account of both';
COMMENT ON COLUMN cmp.user_customer.context_level IS 'always CUSTOMER (kept for the foreign key)';
COMMENT ON COLUMN cmp.user_customer.assigned_at IS 'when the user was assigned';
COMMENT ON COLUMN cmp.user_customer.assigned_by IS 'the CMP user who assigned it';

COMMENT ON COLUMN cmp.sim_card.iccid IS 'the SIM''s ICCID: 19 or 20 digits starting 89, Luhn check digit';
COMMENT ON COLUMN cmp.sim_card.imsi IS 'IMSI, 15 digits, unique';
COMMENT ON COLUMN cmp.sim_card.msisdn IS 'MSISDN, 8 to 15 digits, unique';
COMMENT ON COLUMN cmp.sim_card.account_id IS 'the account the SIM was provisioned into; never changes';
COMMENT ON COLUMN cmp.sim_card.customer_id IS 'the customer it is assigned to, NULL while with its account';
COMMENT ON COLUMN cmp.sim_card.assigned_at IS 'when it moved to its current customer';
COMMENT ON COLUMN cmp.sim_card.provisioned_at IS 'when it was provisioned';

COMMENT ON COLUMN cmp.customer_status_transition.from_status IS 'a customer status';
COMMENT ON COLUMN cmp.customer_status_transition.to_status IS 'a status cmp.set_customer_status may move it to';

COMMENT ON COLUMN cmp.customer_status_history.history_id IS 'the transition''s id, in the order they were made';
COMMENT ON COLUMN cmp.customer_status_history.customer_id IS 'the customer';
COMMENT ON COLUMN cmp.customer_status_history.account_id IS 'its account';
COMMENT ON COLUMN cmp.customer_status_history.from_status IS 'status before (NULL for the first row of a customer)';
COMMENT ON COLUMN cmp.customer_status_history.to_status IS 'status after';
COMMENT ON COLUMN cmp.customer_status_history.changed_at IS 'when';
COMMENT ON COLUMN cmp.customer_status_history.changed_by IS 'the acting CMP user (NULL: the system actor)';
COMMENT ON COLUMN cmp.customer_status_history.db_role IS 'the database role of the session';
COMMENT ON COLUMN cmp.customer_status_history.reason IS 'the reason given, if any';

COMMENT ON COLUMN cmp.sim_assignment_history.history_id IS 'the move''s id, in the order they were made';
COMMENT ON COLUMN cmp.sim_assignment_history.iccid IS 'the SIM';
COMMENT ON COLUMN cmp.sim_assignment_history.account_id IS 'its account';
COMMENT ON COLUMN cmp.sim_assignment_history.from_customer_id IS 'the customer it left (NULL: its account, or a customer the reader cannot see)';
COMMENT ON COLUMN cmp.sim_assignment_history.to_customer_id IS 'the customer it went to (NULL: its account, or a customer the reader cannot see)';
COMMENT ON COLUMN cmp.sim_assignment_history.changed_at IS 'when';
COMMENT ON COLUMN cmp.sim_assignment_history.changed_by IS 'the acting CMP user (NULL: the system actor)';

COMMENT ON COLUMN cmp.audit_log.event_id IS 'the audit row''s id (taken when written, not when committed)';
COMMENT ON COLUMN cmp.audit_log.occurred_at IS 'when';
COMMENT ON COLUMN cmp.audit_log.actor_user_id IS 'the acting CMP user (NULL: the system actor)';
COMMENT ON COLUMN cmp.audit_log.db_role IS 'the database role of the session';
COMMENT ON COLUMN cmp.audit_log.operation IS 'the function called, e.g. create_customer';
COMMENT ON COLUMN cmp.audit_log.resource_type IS 'what it changed: account, user, customer, sim';
COMMENT ON COLUMN cmp.audit_log.resource_id IS 'the id of what it changed';
COMMENT ON COLUMN cmp.audit_log.account_id IS 'the account concerned';
COMMENT ON COLUMN cmp.audit_log.customer_id IS 'the customer concerned, if any';
COMMENT ON COLUMN cmp.audit_log.previous_value IS 'the fields before the change (JSON)';
COMMENT ON COLUMN cmp.audit_log.new_value IS 'the fields after the change (JSON)';
COMMENT ON COLUMN cmp.audit_log.reason IS 'the reason given, if any';

COMMENT ON COLUMN cmp.sim_grid.iccid IS 'the SIM';
COMMENT ON COLUMN cmp.sim_grid.imsi IS 'its IMSI';
COMMENT ON COLUMN cmp.sim_grid.msisdn IS 'its MSISDN';
COMMENT ON COLUMN cmp.sim_grid.account_id IS 'its account';
COMMENT ON COLUMN cmp.sim_grid.account_number IS 'its account''s number (NULL for customer users, who do not see the account)';
COMMENT ON COLUMN cmp.sim_grid.customer_id IS 'its customer, NULL while with its account';
COMMENT ON COLUMN cmp.sim_grid.customer_number IS 'the customer''s number';
COMMENT ON COLUMN cmp.sim_grid.customer_name IS 'the customer''s name';
COMMENT ON COLUMN cmp.sim_grid.customer_status IS 'the customer''s status';
COMMENT ON COLUMN cmp.sim_grid.assigned_at IS 'when it moved to its customer';

COMMENT ON COLUMN cmp.customer_overview.customer_id IS 'the customer';
COMMENT ON COLUMN cmp.customer_overview.account_id IS 'its account';
COMMENT ON COLUMN cmp.customer_overview.customer_number IS 'its number';
COMMENT ON COLUMN cmp.customer_overview.external_customer_number IS 'the account''s own reference';
COMMENT ON COLUMN cmp.customer_overview.name IS 'its name';
COMMENT ON COLUMN cmp.customer_overview.status IS 'its status';
COMMENT ON COLUMN cmp.customer_overview.billable IS 'billed by its reseller';
COMMENT ON COLUMN cmp.customer_overview.admin_user_id IS 'its Customer Admin User';
COMMENT ON COLUMN cmp.customer_overview.sim_count IS 'SIMs assigned to it';
COMMENT ON COLUMN cmp.customer_overview.user_count IS 'users assigned to it';
COMMENT ON COLUMN cmp.customer_overview.created_at IS 'when it was created';
COMMENT ON COLUMN cmp.customer_overview.activated_at IS 'when it first became ACTIVE';
COMMENT ON COLUMN cmp.customer_overview.terminated_at IS 'when it was TERMINATED';

-- ---------------------------------------------------------------------------
-- Change feed (SPEC §11). Every changing call writes its event in its own
-- transaction; a consumer reads the events of the transactions that have
-- committed, in the order they committed, and acknowledges them.
--
-- Commit order: an event's id is taken at commit, not when it is written.
-- A call writes its audit row (and remembers, in its transaction's memory,
-- that the row has an event to come); a deferred trigger on cmp.audit_log,
-- which runs when the transaction commits, takes the lock of
-- cmp.event_commit_order (held until the transaction has ended) and writes
-- the row's event into cmp.event with the next id. So whoever can see event
-- n can see every event below n, and a consumer that has read up to n never
-- misses one: no id below n can commit later. An audit row that no call of
-- this transaction wrote (restored by pg_restore, or written by hand) makes
-- no event.
-- ---------------------------------------------------------------------------

CREATE FUNCTION cmp.event_type_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'event_type_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cmp.event_type_is_valid(text) IS 'one of the event types of the change feed';
CREATE SEQUENCE cmp.event_id_seq;
CREATE TABLE cmp.event (
	event_id bigint NOT NULL,
	occurred_at timestamptz NOT NULL,
	-- account.created, user.created, user.status_changed, customer.created,
	-- customer.updated, customer.deleted, customer.status_changed,
	-- customer_user.assigned, customer_user.unassigned, sims.provisioned,
	-- sims.assigned or sims.unassigned (SPEC §11)
	event_type text NOT NULL CONSTRAINT event_event_type_check
		CHECK (cmp.event_type_is_valid(event_type)),
	account_id bigint,
	customer_id bigint,
	resource_type text NOT NULL,
	resource_id text,
	actor_user_id bigint,
	payload jsonb NOT NULL
) PARTITION BY RANGE (occurred_at);
-- months as for the audit log (see "Time partitions" above)
CREATE TABLE cmp.event_default PARTITION OF cmp.event (PRIMARY KEY (event_id)) DEFAULT;
CREATE INDEX event_default_account_idx ON cmp.event_default (account_id, event_id);
CREATE INDEX event_default_customer_idx ON cmp.event_default (customer_id, event_id);
ALTER TABLE cmp.event ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.event FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.event_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.event_default FORCE ROW LEVEL SECURITY;
CREATE POLICY event_visible ON cmp.event FOR SELECT
	USING (cmp.actor_sees(account_id, customer_id));
GRANT SELECT ON cmp.event TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cmp.event', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.event_default', '');
COMMENT ON TABLE cmp.event_default IS
	'internal: events of months that have no partition yet (cmp.maintain_partitions moves them)';
SELECT pg_catalog.pg_extension_config_dump('cmp.event_id_seq', '');
COMMENT ON TABLE cmp.event IS
	'the change feed: one row per change, numbered in commit order (read it with cmp.read_events)';
COMMENT ON COLUMN cmp.event.event_id IS 'its place in commit order (taken when its transaction committed)';
COMMENT ON COLUMN cmp.event.occurred_at IS 'when the change was made (the transaction''s start)';
COMMENT ON COLUMN cmp.event.event_type IS 'what happened, e.g. customer.status_changed (README "Change feed")';
COMMENT ON COLUMN cmp.event.account_id IS 'the account concerned';
COMMENT ON COLUMN cmp.event.customer_id IS 'the customer concerned, if one';
COMMENT ON COLUMN cmp.event.resource_type IS 'what changed: account, user, customer, sim';
COMMENT ON COLUMN cmp.event.resource_id IS 'the id of what changed';
COMMENT ON COLUMN cmp.event.actor_user_id IS 'the acting CMP user (NULL: the system actor)';
COMMENT ON COLUMN cmp.event.payload IS
	'the change: previous and new fields, counts, ICCIDs of a bulk call, the audit row''s id';

-- Locked by committing transactions that wrote events, one at a time; it
-- holds no rows.
CREATE TABLE cmp.event_commit_order ();
ALTER TABLE cmp.event_commit_order ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.event_commit_order FORCE ROW LEVEL SECURITY;
REVOKE ALL ON cmp.event_commit_order FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cmp.event_commit_order', '');
COMMENT ON TABLE cmp.event_commit_order IS
	'internal: its lock orders the commits of transactions that wrote events; holds no rows';

CREATE FUNCTION cmp.event_commit() RETURNS trigger
	AS 'MODULE_PATHNAME', 'event_commit'
	LANGUAGE C SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION cmp.event_commit() FROM PUBLIC;
COMMENT ON FUNCTION cmp.event_commit() IS
	'internal: at commit, writes the event of an audit row into cmp.event, numbered in commit order';
-- (on the partitioned table: every month's partition gets it too)
CREATE CONSTRAINT TRIGGER event_commit AFTER INSERT ON cmp.audit_log
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cmp.event_commit();

-- A consumer belongs to the CMP user who created it (NULL: the system
-- actor) and has read and acknowledged every event up to acked_event_id.
CREATE TABLE cmp.event_consumer (
	owner_user_id bigint REFERENCES cmp.app_user_data ON DELETE CASCADE,
	name text NOT NULL,
	acked_event_id bigint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	acked_at timestamptz,
	UNIQUE NULLS NOT DISTINCT (owner_user_id, name)
);
ALTER TABLE cmp.event_consumer ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.event_consumer FORCE ROW LEVEL SECURITY;
CREATE POLICY event_consumer_visible ON cmp.event_consumer FOR SELECT
	USING (owner_user_id OPERATOR(pg_catalog.=) cmp.actor_id());
GRANT SELECT ON cmp.event_consumer TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cmp.event_consumer', '');
COMMENT ON TABLE cmp.event_consumer IS
	'readers of the change feed: each belongs to a CMP user and has acknowledged every event up to acked_event_id';
COMMENT ON COLUMN cmp.event_consumer.owner_user_id IS 'the CMP user it belongs to (NULL: the system actor)';
COMMENT ON COLUMN cmp.event_consumer.name IS 'its name, unique for its owner';
COMMENT ON COLUMN cmp.event_consumer.acked_event_id IS 'every event up to this id is acknowledged';
COMMENT ON COLUMN cmp.event_consumer.created_at IS 'when it was created';
COMMENT ON COLUMN cmp.event_consumer.acked_at IS 'when it last acknowledged events';

CREATE FUNCTION cmp.create_event_consumer(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'create_event_consumer'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.drop_event_consumer(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'drop_event_consumer'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.read_events(consumer text, max_events integer DEFAULT 1000)
	RETURNS SETOF cmp.event
	AS 'MODULE_PATHNAME', 'read_events'
	LANGUAGE C VOLATILE SECURITY DEFINER ROWS 1000;
CREATE FUNCTION cmp.ack_events(consumer text, up_to_event_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ack_events'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.purge_events(older_than interval) RETURNS bigint
	AS 'MODULE_PATHNAME', 'purge_events'
	LANGUAGE C VOLATILE SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION cmp.create_event_consumer(text), cmp.drop_event_consumer(text),
	cmp.read_events(text, integer), cmp.ack_events(text, bigint),
	cmp.purge_events(interval) TO PUBLIC;
COMMENT ON FUNCTION cmp.create_event_consumer(text) IS
	'a reader of the change feed for the acting user, starting at the oldest event kept';
COMMENT ON FUNCTION cmp.drop_event_consumer(text) IS
	'remove one of the acting user''s consumers (so that it holds back no purge)';
COMMENT ON FUNCTION cmp.read_events(text, integer) IS
	'the next events (at most max_events) the consumer has not acknowledged and its owner may see, in commit order';
COMMENT ON FUNCTION cmp.ack_events(text, bigint) IS
	'acknowledge every event up to up_to_event_id; returns how many of the owner''s visible events that acknowledged';
COMMENT ON FUNCTION cmp.purge_events(interval) IS
	'CSP users: delete events older than older_than that every consumer has acknowledged; returns how many';

-- ---------------------------------------------------------------------------
-- Verified identities (SPEC §12). An identity provider's keys; a signed
-- token names its key (kid) and its user (sub), and cmp.set_actor_token
-- sets the actor only for a token that verifies. The key material (an
-- HS256 secret may be among it) is readable by nobody but the owner.
-- ---------------------------------------------------------------------------

CREATE TABLE cmp.identity_key (
	key_id text PRIMARY KEY CHECK (key_id OPERATOR(pg_catalog.<>) ''),
	issuer text NOT NULL,
	algorithm text NOT NULL CHECK (algorithm IN ('HS256', 'RS256', 'ES256')),
	key_material text NOT NULL,
	audience text NOT NULL DEFAULT 'cmp',
	valid_from timestamptz NOT NULL DEFAULT pg_catalog.now(),
	valid_until timestamptz,
	revoked_at timestamptz,
	created_by bigint
);
ALTER TABLE cmp.identity_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.identity_key FORCE ROW LEVEL SECURITY;
CREATE POLICY identity_key_visible ON cmp.identity_key FOR SELECT
	USING (cmp.actor_is_csp());
REVOKE ALL ON cmp.identity_key FROM PUBLIC;
GRANT SELECT (key_id, issuer, algorithm, audience, valid_from, valid_until, revoked_at, created_by)
	ON cmp.identity_key TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cmp.identity_key', '');
COMMENT ON TABLE cmp.identity_key IS
	'keys of identity providers whose signed tokens cmp.set_actor_token accepts (CSP users see them)';
COMMENT ON COLUMN cmp.identity_key.key_id IS 'the kid a token''s header names';
COMMENT ON COLUMN cmp.identity_key.issuer IS 'the iss its tokens must carry';
COMMENT ON COLUMN cmp.identity_key.algorithm IS 'HS256, RS256 or ES256: the only alg its tokens may use';
COMMENT ON COLUMN cmp.identity_key.key_material IS
	'a PEM public key (RS256, ES256) or a base64url secret (HS256); readable by the owner only';
COMMENT ON COLUMN cmp.identity_key.audience IS 'what the aud of its tokens must contain';
COMMENT ON COLUMN cmp.identity_key.valid_from IS 'from when its tokens are accepted';
COMMENT ON COLUMN cmp.identity_key.valid_until IS 'until when its tokens are accepted (NULL: until revoked)';
COMMENT ON COLUMN cmp.identity_key.revoked_at IS 'when it was revoked: its tokens are refused from then on';
COMMENT ON COLUMN cmp.identity_key.created_by IS 'the CSP user who added it (NULL: the system actor)';

CREATE FUNCTION cmp.add_identity_key(key_id text, issuer text, algorithm text, key text,
		audience text DEFAULT 'cmp', valid_until timestamptz DEFAULT NULL) RETURNS void
	AS 'MODULE_PATHNAME', 'add_identity_key'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.revoke_identity_key(key_id text) RETURNS void
	AS 'MODULE_PATHNAME', 'revoke_identity_key'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.set_actor_token(token text, is_local boolean DEFAULT true) RETURNS bigint
	AS 'MODULE_PATHNAME', 'set_actor_token'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.set_actor_by_login(login text, is_local boolean DEFAULT true) RETURNS bigint
	AS 'MODULE_PATHNAME', 'set_actor_by_login'
	LANGUAGE C VOLATILE SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION cmp.add_identity_key(text, text, text, text, text, timestamptz),
	cmp.revoke_identity_key(text) TO PUBLIC;
-- like set_actor, granted by the DBA: set_actor_by_login to whom may name
-- any user, set_actor_token to an application that may act only as people
-- who signed in
REVOKE EXECUTE ON FUNCTION cmp.set_actor_token(text, boolean),
	cmp.set_actor_by_login(text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION cmp.add_identity_key(text, text, text, text, text, timestamptz) IS
	'CSP users: accept tokens signed with this key (kid key_id) from this issuer for this audience';
COMMENT ON FUNCTION cmp.revoke_identity_key(text) IS
	'CSP users: refuse every token of this key from now on';
COMMENT ON FUNCTION cmp.set_actor_token(text, boolean) IS
	'act as the user a verified signed token (JWS, HS256/RS256/ES256) names; returns the user id';
COMMENT ON FUNCTION cmp.set_actor_by_login(text, boolean) IS
	'cmp.set_actor by login (case-insensitive); returns the user id';

-- ---------------------------------------------------------------------------
-- Bulk requests (SPEC §13): ICCID ranges and "N free SIMs".
-- ---------------------------------------------------------------------------

-- an account's free SIMs in ICCID order: what assign_free_sims takes
CREATE INDEX sim_card_free_idx ON cmp.sim_card (account_id, iccid) WHERE customer_id IS NULL;

CREATE FUNCTION cmp.assign_sim_range(customer_id bigint, first_iccid text, last_iccid text,
		reassign boolean DEFAULT false) RETURNS bigint
	AS 'MODULE_PATHNAME', 'assign_sim_range'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.assign_free_sims(customer_id bigint, count integer,
		iccid_prefix text DEFAULT NULL) RETURNS text[]
	AS 'MODULE_PATHNAME', 'assign_free_sims'
	LANGUAGE C VOLATILE SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION cmp.assign_sim_range(bigint, text, text, boolean),
	cmp.assign_free_sims(bigint, integer, text) TO PUBLIC;
COMMENT ON FUNCTION cmp.assign_sim_range(bigint, text, text, boolean) IS
	'ACCOUNT users: every SIM of the account from first_iccid to last_iccid to the customer, all or nothing; returns how many moved';
COMMENT ON FUNCTION cmp.assign_free_sims(bigint, integer, text) IS
	'ACCOUNT users: the count lowest free SIMs of the account (with the prefix) to the customer; returns their ICCIDs';

-- Idempotent creation (SPEC §13): request_id on the creating functions.
-- A call with a request id takes effect once per acting user; a repeat
-- returns the first call's result. Kept at least 24 hours:
-- cmp.purge_requests() removes older ones (schedule it, e.g. hourly).
CREATE TABLE cmp.request (
	actor_user_id bigint NOT NULL,	-- 0: the system actor
	request_id uuid NOT NULL,
	operation text NOT NULL,
	fingerprint bytea NOT NULL,
	result jsonb,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (actor_user_id, request_id)
);
CREATE INDEX request_created_idx ON cmp.request (created_at);
ALTER TABLE cmp.request ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.request FORCE ROW LEVEL SECURITY;
REVOKE ALL ON cmp.request FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('cmp.request', '');
COMMENT ON TABLE cmp.request IS
	'internal: the creating calls made with a request_id, per acting user, with their results';
COMMENT ON COLUMN cmp.request.actor_user_id IS 'internal: who called (0: the system actor)';
COMMENT ON COLUMN cmp.request.request_id IS 'internal: the caller''s request id';
COMMENT ON COLUMN cmp.request.operation IS 'internal: the function called';
COMMENT ON COLUMN cmp.request.fingerprint IS 'internal: SHA-256 of its arguments';
COMMENT ON COLUMN cmp.request.result IS 'internal: what it returned (JSON)';
COMMENT ON COLUMN cmp.request.created_at IS 'internal: when';

DROP FUNCTION cmp.create_account(text, text, text, boolean, text, integer);
CREATE FUNCTION cmp.create_account(account_number text, name text,
		account_type text DEFAULT 'STANDARD',
		customer_invoice_creation boolean DEFAULT NULL,
		customer_invoice_type text DEFAULT NULL,
		customer_billing_cycle_day integer DEFAULT NULL,
		request_id uuid DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_account'
	LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.create_account(text, text, text, boolean, text, integer, uuid) IS
	'CSP users: a STANDARD account, or a RESELLER account with its reseller profile; returns its id';

DROP FUNCTION cmp.create_user(text, text, text, bigint, text, boolean, name);
CREATE FUNCTION cmp.create_user(login text, email text, context_level text,
		account_id bigint DEFAULT NULL, full_name text DEFAULT NULL,
		is_admin boolean DEFAULT false, db_role name DEFAULT NULL,
		request_id uuid DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_user'
	LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.create_user(text, text, text, bigint, text, boolean, name, uuid) IS
	'a CSP or ACCOUNT user (CSP users; ACCOUNT admins for their own account); returns its id';

DROP FUNCTION cmp.create_customer(bigint, text, boolean, text, text, text, text, text, text, text,
	text, text, text, text, numeric, text, text, text, text);
CREATE FUNCTION cmp.create_customer(account_id bigint, name text,
		billable boolean DEFAULT false, status text DEFAULT 'DRAFT',
		external_customer_number text DEFAULT NULL, description text DEFAULT NULL,
		country text DEFAULT NULL, state text DEFAULT NULL, zip_code text DEFAULT NULL,
		city text DEFAULT NULL, street text DEFAULT NULL, phone text DEFAULT NULL,
		homepage text DEFAULT NULL, linkedin text DEFAULT NULL,
		estimated_annual_revenue numeric DEFAULT NULL, revenue_currency text DEFAULT NULL,
		admin_login text DEFAULT NULL, admin_email text DEFAULT NULL,
		admin_full_name text DEFAULT NULL, request_id uuid DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_customer'
	LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.create_customer(bigint, text, boolean, text, text, text, text, text, text, text, text, text, text, text, numeric, text, text, text, text, uuid) IS
	'ACCOUNT users of the account: a customer with the next customer number, and with admin_login/admin_email its Customer Admin User; returns its id';

DROP FUNCTION cmp.create_customer_user(bigint[], text, text, text, boolean, name);
CREATE FUNCTION cmp.create_customer_user(customer_ids bigint[], login text, email text,
		full_name text DEFAULT NULL, is_admin boolean DEFAULT false,
		db_role name DEFAULT NULL, request_id uuid DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_customer_user'
	LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.create_customer_user(bigint[], text, text, text, boolean, name, uuid) IS
	'ACCOUNT users and customer admins: a CUSTOMER user assigned to these customers; returns its id';

CREATE FUNCTION cmp.import_customers(customers jsonb, all_or_nothing boolean DEFAULT true,
		request_id uuid DEFAULT NULL)
	RETURNS TABLE (item integer, customer_id bigint, sqlstate text, message text, detail text)
	AS 'MODULE_PATHNAME', 'import_customers'
	LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.import_customers(jsonb, boolean, uuid) IS
	'ACCOUNT users: create_customer for each element of a JSON array; one row per element with its customer id or its error';

CREATE FUNCTION cmp.purge_requests() RETURNS bigint
	AS 'MODULE_PATHNAME', 'purge_requests'
	LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.purge_requests() IS
	'CSP users: forget request ids older than 24 hours; returns how many';

GRANT EXECUTE ON FUNCTION
	cmp.create_account(text, text, text, boolean, text, integer, uuid),
	cmp.create_user(text, text, text, bigint, text, boolean, name, uuid),
	cmp.create_customer(bigint, text, boolean, text, text, text, text, text, text, text, text, text, text, text, numeric, text, text, text, text, uuid),
	cmp.create_customer_user(bigint[], text, text, text, boolean, name, uuid),
	cmp.import_customers(jsonb, boolean, uuid),
	cmp.purge_requests() TO PUBLIC;

-- "May I?" (SPEC §12): whether the acting user may call a changing function
-- on an object now, from the same table of rules the functions enforce.
CREATE FUNCTION cmp.actor_can(operation text, object_id bigint DEFAULT NULL) RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_can'
	LANGUAGE C STABLE SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION cmp.actor_can(text, bigint) TO PUBLIC;
COMMENT ON FUNCTION cmp.actor_can(text, bigint) IS
	'whether the acting user may call that function (by name) on that object (account, customer or user id) now';

-- ---------------------------------------------------------------------------
-- Partition maintenance (SPEC §14), for a scheduler to call (README
-- "Partitions and retention"), e.g. daily:
--   CALL cmp.maintain_partitions(months_ahead, keep_history, keep_audit, keep_events)
-- maintains the three tables one after the other, each in a transaction of
-- its own, through cmp.maintain_partition(table, months_ahead, keep), which
-- for one table
--  1. retires, when a retention is given, every month whose end is older
--     than the retention: DETACH and DROP (events only once every consumer
--     has acknowledged them);
--  2. creates every month from the current one to months_ahead ahead, and
--     each month that has rows in the default partition, moving those rows
--     into their month (under a lock of the default partition, so no row
--     arrives there meanwhile).
-- One table per transaction: the locks (the whole table for a DETACH, the
-- default partition for a new month) are then never held while waiting
-- for another table's, which a reader or writer of both may hold, so
-- maintenance makes nobody wait in a cycle (test/suites/retention.sh).
-- Retiring comes first for the same reason. Months are months of UTC. Not
-- granted to PUBLIC: a DBA grants both to the scheduler's role.
-- ---------------------------------------------------------------------------
CREATE FUNCTION cmp.maintain_partition(partitioned_table regclass, months_ahead integer DEFAULT 3,
		keep interval DEFAULT NULL)
	RETURNS TABLE (partition_name text, action text, moved_rows bigint)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET "TimeZone" = 'UTC'
	SET row_security = off
AS $maintain$
DECLARE
	key name;
	dflt regclass;
	prefix text;
	p record;
	m timestamptz;
	part text;
	cols text;
	acked bigint;
	newest bigint;
BEGIN
	CASE partitioned_table
		WHEN 'cmp.sim_assignment_history_data'::regclass THEN
			key := 'changed_at'; dflt := 'cmp.sim_assignment_history_default'; prefix := 'sim_assignment_history_p';
		WHEN 'cmp.audit_log'::regclass THEN
			key := 'occurred_at'; dflt := 'cmp.audit_log_default'; prefix := 'audit_log_p';
		WHEN 'cmp.event'::regclass THEN
			key := 'occurred_at'; dflt := 'cmp.event_default'; prefix := 'event_p';
		ELSE
			RAISE EXCEPTION 'cmp.maintain_partition maintains cmp.sim_assignment_history_data, cmp.audit_log and cmp.event, not %',
				coalesce(partitioned_table::text, 'NULL')
				-- the argument stands for a pg_class row
				USING ERRCODE = 'invalid_parameter_value',
				      SCHEMA = 'pg_catalog', TABLE = 'pg_class', COLUMN = 'oid';
	END CASE;
	IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
		RAISE EXCEPTION 'months_ahead must be between 0 and 120, not %', coalesce(months_ahead::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value', SCHEMA = 'cmp',
			      TABLE = (SELECT relname FROM pg_class WHERE oid = partitioned_table), COLUMN = key;
	END IF;
	IF keep < interval '0' OR keep > interval '1000 years' THEN
		RAISE EXCEPTION 'a retention must be between 0 and 1000 years, not %', keep
			USING ERRCODE = 'invalid_parameter_value', SCHEMA = 'cmp',
			      TABLE = (SELECT relname FROM pg_class WHERE oid = partitioned_table), COLUMN = key;
	END IF;

	-- one maintenance of a table at a time; readers and writers go on
	EXECUTE format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', partitioned_table);

	-- 1. retire
	IF keep IS NOT NULL THEN
		acked := (SELECT min(c.acked_event_id) FROM cmp.event_consumer c);
		FOR p IN
			SELECT c.oid::regclass AS rel, c.relname::text AS relname, b[2]::timestamptz AS hi
			  FROM pg_inherits i
			  JOIN pg_class c ON c.oid = i.inhrelid,
			       regexp_match(pg_get_expr(c.relpartbound, c.oid),
			                    'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
			 WHERE i.inhparent = partitioned_table AND b IS NOT NULL
			   AND b[2]::timestamptz <= now() - keep
			 ORDER BY 3
		LOOP
			partition_name := p.relname;
			moved_rows := NULL;
			IF partitioned_table = 'cmp.event'::regclass AND acked IS NOT NULL THEN
				EXECUTE format('SELECT max(event_id) FROM %s', p.rel) INTO newest;
				IF newest > acked THEN
					action := 'kept: not acknowledged by every consumer';
					RETURN NEXT;
					CONTINUE;
				END IF;
			END IF;
			EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', partitioned_table, p.rel);
			EXECUTE format('DROP TABLE %s', p.rel);
			action := 'retired';
			RETURN NEXT;
		END LOOP;
	END IF;

	-- 2. create, moving rows out of the default partition
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
	  FROM pg_attribute a
	 WHERE a.attrelid = partitioned_table AND a.attnum > 0 AND NOT a.attisdropped;
	FOR m IN
		EXECUTE format(
			'SELECT DISTINCT date_trunc(''month'', %I) FROM ONLY %s'
			' UNION SELECT generate_series(date_trunc(''month'', now()),'
			'                              date_trunc(''month'', now()) + $1 * interval ''1 month'','
			'                              interval ''1 month'')'
			' ORDER BY 1', key, dflt)
		USING months_ahead
	LOOP
		part := prefix || to_char(m, 'YYYY_MM');
		CONTINUE WHEN EXISTS (
			SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			 WHERE i.inhparent = partitioned_table AND c.relname = part);
		EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', dflt);
		EXECUTE format('CREATE TABLE cmp.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)',
		               part, dflt);
		EXECUTE format(
			'WITH d AS (DELETE FROM ONLY %1$s WHERE %2$I >= $1 AND %2$I < $2 RETURNING %3$s)'
			' INSERT INTO cmp.%4$I (%3$s) SELECT %3$s FROM d',
			dflt, key, cols, part)
		USING m, m + interval '1 month';
		GET DIAGNOSTICS moved_rows = ROW_COUNT;
		EXECUTE format('ALTER TABLE %s ATTACH PARTITION cmp.%I FOR VALUES FROM (%L) TO (%L)',
		               partitioned_table, part, m, m + interval '1 month');
		EXECUTE format('ALTER TABLE cmp.%I ENABLE ROW LEVEL SECURITY', part);
		EXECUTE format('ALTER TABLE cmp.%I FORCE ROW LEVEL SECURITY', part);
		EXECUTE format('REVOKE ALL ON cmp.%I FROM PUBLIC', part);
		EXECUTE format('COMMENT ON TABLE cmp.%I IS %L', part,
		               format('internal: the rows of %s of %s (UTC); made by cmp.maintain_partition',
		                      partitioned_table, to_char(m, 'YYYY-MM')));
		partition_name := part;
		action := 'created';
		RETURN NEXT;
	END LOOP;
END
$maintain$;
REVOKE EXECUTE ON FUNCTION cmp.maintain_partition(regclass, integer, interval) FROM PUBLIC;
COMMENT ON FUNCTION cmp.maintain_partition(regclass, integer, interval) IS
	'for the scheduler: one partitioned table''s months ahead, rows out of its default partition, months past the retention retired (DETACH + DROP)';

-- The three tables, each in a transaction of its own (CALL it outside a
-- transaction block); what it did is told as a NOTICE per partition.
CREATE PROCEDURE cmp.maintain_partitions(months_ahead integer DEFAULT 3,
		keep_history interval DEFAULT NULL, keep_audit interval DEFAULT NULL,
		keep_events interval DEFAULT NULL)
	LANGUAGE plpgsql
AS $maintain$
DECLARE
	t record;
	r record;
BEGIN
	FOR t IN SELECT * FROM (VALUES
			(1, 'cmp.sim_assignment_history_data'::pg_catalog.regclass, keep_history),
			(2, 'cmp.audit_log'::pg_catalog.regclass, keep_audit),
			(3, 'cmp.event'::pg_catalog.regclass, keep_events)) AS v (n, tab, keep)
		ORDER BY n
	LOOP
		FOR r IN SELECT * FROM cmp.maintain_partition(t.tab, months_ahead, t.keep) LOOP
			RAISE NOTICE '% % %: %', t.tab, r.partition_name, r.action, coalesce(r.moved_rows::text, '-');
		END LOOP;
		COMMIT;
	END LOOP;
END
$maintain$;
REVOKE EXECUTE ON PROCEDURE cmp.maintain_partitions(integer, interval, interval, interval) FROM PUBLIC;
COMMENT ON PROCEDURE cmp.maintain_partitions(integer, interval, interval, interval) IS
	'for the scheduler (CALL, outside a transaction block): cmp.maintain_partition for the SIM history, the audit log and the events, each committed on its own';
