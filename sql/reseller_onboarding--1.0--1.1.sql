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
