-- reseller_onboarding 1.0: Reseller – Customer Onboarding for an IoT CMP.
--
-- Reading order: validation functions, tables with their rules, the actor,
-- row-level security, views, the changing functions, grants.
--
-- Every name is schema-qualified (and operators are written as
-- OPERATOR(pg_catalog.=)) so that no search_path can redirect what the
-- extension does.

\echo Use "CREATE EXTENSION reseller_onboarding" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Value shapes (validate.c). Immutable, so tables can use them in CHECKs.
-- ---------------------------------------------------------------------------

CREATE FUNCTION cmp.iccid_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'iccid_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cmp.iccid_is_valid(text) IS
	'19 or 20 digits, starting with 89, with a valid Luhn check digit';
CREATE FUNCTION cmp.iccid_problem(value text) RETURNS text
	AS 'MODULE_PATHNAME', 'iccid_problem'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cmp.imsi_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'imsi_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cmp.msisdn_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'msisdn_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cmp.phone_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'phone_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cmp.url_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'url_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cmp.email_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'email_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cmp.country_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'country_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cmp.currency_is_valid(value text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'currency_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- ---------------------------------------------------------------------------
-- Tables. Ids come from sequences (registered for pg_dump below).
-- Timestamps and "*_by" columns record when and which CMP user (NULL: the
-- system actor) made a change.
-- ---------------------------------------------------------------------------

CREATE SEQUENCE cmp.account_id_seq;
CREATE SEQUENCE cmp.user_id_seq;
CREATE SEQUENCE cmp.customer_id_seq;
CREATE SEQUENCE cmp.status_history_id_seq;
CREATE SEQUENCE cmp.sim_history_id_seq;
CREATE SEQUENCE cmp.audit_event_id_seq;

CREATE TABLE cmp.account (
	account_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('cmp.account_id_seq'),
	account_number text NOT NULL UNIQUE
		CHECK (account_number OPERATOR(pg_catalog.<>) '' AND pg_catalog.length(account_number) OPERATOR(pg_catalog.<=) 64),
	name text NOT NULL
		CHECK (name OPERATOR(pg_catalog.<>) '' AND pg_catalog.length(name) OPERATOR(pg_catalog.<=) 200),
	account_type text NOT NULL DEFAULT 'STANDARD'
		CHECK (account_type OPERATOR(pg_catalog.=) ANY (ARRAY['STANDARD', 'RESELLER'])),
	-- reseller profile: present exactly for RESELLER accounts
	customer_invoice_creation boolean,
	customer_invoice_type text
		CHECK (customer_invoice_type OPERATOR(pg_catalog.=) ANY (ARRAY['RAW', 'PDF', 'BOTH'])),
	customer_billing_cycle_day integer
		CHECK (customer_billing_cycle_day BETWEEN 1 AND 28),
	-- the last customer_number handed out in this account; incremented under
	-- the account row's lock, so numbering is gapless and survives pg_dump
	last_customer_number bigint NOT NULL DEFAULT 0 CHECK (last_customer_number OPERATOR(pg_catalog.>=) 0),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by bigint,
	CONSTRAINT account_reseller_profile CHECK (
		CASE account_type
			WHEN 'RESELLER' THEN customer_invoice_creation IS NOT NULL
				AND customer_invoice_type IS NOT NULL
				AND customer_billing_cycle_day IS NOT NULL
			ELSE customer_invoice_creation IS NULL
				AND customer_invoice_type IS NULL
				AND customer_billing_cycle_day IS NULL
		END),
	-- target of customer's (account_id, account_type) foreign key
	UNIQUE (account_id, account_type)
);
COMMENT ON TABLE cmp.account IS 'CSP accounts; RESELLER accounts carry a reseller profile';

CREATE TABLE cmp.app_user (
	user_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('cmp.user_id_seq'),
	login text NOT NULL
		CHECK (login OPERATOR(pg_catalog.<>) '' AND pg_catalog.length(login) OPERATOR(pg_catalog.<=) 128),
	email text NOT NULL CHECK (cmp.email_is_valid(email)),
	full_name text CHECK (pg_catalog.length(full_name) OPERATOR(pg_catalog.<=) 200),
	is_admin boolean NOT NULL DEFAULT false,
	status text NOT NULL DEFAULT 'ACTIVE'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['ACTIVE', 'LOCKED'])),
	db_role name UNIQUE,
	context_level text NOT NULL
		CHECK (context_level OPERATOR(pg_catalog.=) ANY (ARRAY['CSP', 'ACCOUNT', 'CUSTOMER'])),
	domain text NOT NULL,
	account_id bigint REFERENCES cmp.account,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by bigint,
	updated_at timestamptz,
	updated_by bigint,
	-- rule 3: users of customer (and account) contexts are ENTERPRISE users
	CONSTRAINT app_user_domain CHECK (domain OPERATOR(pg_catalog.=)
		CASE context_level WHEN 'CSP' THEN 'CSP' ELSE 'ENTERPRISE' END),
	CONSTRAINT app_user_account CHECK ((context_level OPERATOR(pg_catalog.=) 'CSP') OPERATOR(pg_catalog.=) (account_id IS NULL)),
	-- target of user_customer's foreign key: only CUSTOMER users of the
	-- customer's own account can be assigned (rule 4)
	UNIQUE (user_id, account_id, context_level)
);
CREATE UNIQUE INDEX app_user_login_key ON cmp.app_user (pg_catalog.lower(login));
CREATE INDEX app_user_account_idx ON cmp.app_user (account_id);
COMMENT ON TABLE cmp.app_user IS 'CMP users: CSP, ACCOUNT and CUSTOMER level';

CREATE TABLE cmp.customer (
	customer_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('cmp.customer_id_seq'),
	account_id bigint NOT NULL,
	-- copy of the account's type, kept by the foreign key below, so that
	-- rule 1 can be a CHECK
	account_type text NOT NULL,
	customer_number bigint NOT NULL CHECK (customer_number OPERATOR(pg_catalog.>) 0),
	external_customer_number text
		CHECK (external_customer_number OPERATOR(pg_catalog.<>) '' AND pg_catalog.length(external_customer_number) OPERATOR(pg_catalog.<=) 64),
	name text NOT NULL
		CHECK (name OPERATOR(pg_catalog.<>) '' AND pg_catalog.length(name) OPERATOR(pg_catalog.<=) 200),
	description text CHECK (pg_catalog.length(description) OPERATOR(pg_catalog.<=) 2000),
	country text CHECK (cmp.country_is_valid(country)),
	state text CHECK (pg_catalog.length(state) OPERATOR(pg_catalog.<=) 100),
	zip_code text CHECK (pg_catalog.length(zip_code) OPERATOR(pg_catalog.<=) 20),
	city text CHECK (pg_catalog.length(city) OPERATOR(pg_catalog.<=) 100),
	street text CHECK (pg_catalog.length(street) OPERATOR(pg_catalog.<=) 200),
	phone text CHECK (cmp.phone_is_valid(phone)),
	homepage text CHECK (cmp.url_is_valid(homepage)),
	linkedin text CHECK (cmp.url_is_valid(linkedin)),
	estimated_annual_revenue numeric CHECK (estimated_annual_revenue OPERATOR(pg_catalog.>=) 0),
	revenue_currency text CHECK (cmp.currency_is_valid(revenue_currency)),
	billable boolean NOT NULL DEFAULT false,
	status text NOT NULL DEFAULT 'DRAFT'
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['DRAFT', 'ACTIVE', 'SUSPENDED', 'TERMINATED'])),
	admin_user_id bigint REFERENCES cmp.app_user,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by bigint,
	updated_at timestamptz,
	updated_by bigint,
	activated_at timestamptz,
	activated_by bigint,
	terminated_at timestamptz,
	terminated_by bigint,
	UNIQUE (account_id, customer_number),
	UNIQUE (account_id, external_customer_number),
	-- target of the (customer_id, account_id) foreign keys: rules 4 and 5
	UNIQUE (customer_id, account_id),
	FOREIGN KEY (account_id, account_type)
		REFERENCES cmp.account (account_id, account_type) ON UPDATE CASCADE,
	-- rule 1
	CONSTRAINT customer_billable_needs_reseller
		CHECK (NOT billable OR account_type OPERATOR(pg_catalog.=) 'RESELLER'),
	CONSTRAINT customer_revenue_currency
		CHECK ((estimated_annual_revenue IS NULL) OPERATOR(pg_catalog.=) (revenue_currency IS NULL)),
	-- becoming ACTIVE needs an admin user, and a billable customer a
	-- complete address; both stay true while ACTIVE or SUSPENDED
	CONSTRAINT customer_active_has_admin
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['DRAFT', 'TERMINATED']) OR admin_user_id IS NOT NULL),
	CONSTRAINT customer_active_billable_address
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['DRAFT', 'TERMINATED']) OR NOT billable
			OR (country IS NOT NULL AND city IS NOT NULL AND street IS NOT NULL AND zip_code IS NOT NULL))
);
-- name unique per account among customers that are not TERMINATED
CREATE UNIQUE INDEX customer_name_key ON cmp.customer (account_id, pg_catalog.lower(name))
	WHERE status OPERATOR(pg_catalog.<>) 'TERMINATED';
CREATE INDEX customer_admin_user_idx ON cmp.customer (admin_user_id);
COMMENT ON TABLE cmp.customer IS 'customers of an account; customer_number is per account and never changes';

CREATE TABLE cmp.user_customer (
	user_id bigint NOT NULL,
	customer_id bigint NOT NULL,
	account_id bigint NOT NULL,
	context_level text NOT NULL DEFAULT 'CUSTOMER'
		CHECK (context_level OPERATOR(pg_catalog.=) 'CUSTOMER'),
	assigned_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	assigned_by bigint,
	PRIMARY KEY (user_id, customer_id),
	-- rule 4: the user and the customer belong to the same account, and only
	-- CUSTOMER-level users are assigned
	FOREIGN KEY (user_id, account_id, context_level)
		REFERENCES cmp.app_user (user_id, account_id, context_level),
	FOREIGN KEY (customer_id, account_id)
		REFERENCES cmp.customer (customer_id, account_id) ON DELETE CASCADE
);
CREATE INDEX user_customer_customer_idx ON cmp.user_customer (customer_id);
CREATE INDEX user_customer_account_idx ON cmp.user_customer (account_id);
COMMENT ON TABLE cmp.user_customer IS 'which customers a CUSTOMER-level user is assigned to';

CREATE TABLE cmp.sim_card (
	iccid text PRIMARY KEY CHECK (cmp.iccid_is_valid(iccid)),
	imsi text UNIQUE CHECK (cmp.imsi_is_valid(imsi)),
	msisdn text UNIQUE CHECK (cmp.msisdn_is_valid(msisdn)),
	account_id bigint NOT NULL REFERENCES cmp.account,
	customer_id bigint,
	assigned_at timestamptz,
	provisioned_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- rule 5: a SIM's customer belongs to the SIM's account
	FOREIGN KEY (customer_id, account_id) REFERENCES cmp.customer (customer_id, account_id),
	CONSTRAINT sim_card_assigned_at CHECK ((customer_id IS NULL) OPERATOR(pg_catalog.=) (assigned_at IS NULL))
);
-- the two access paths of the SIM grid: an account's SIMs and a customer's
-- SIMs, each in ICCID order for paging
CREATE INDEX sim_card_account_idx ON cmp.sim_card (account_id, iccid);
CREATE INDEX sim_card_customer_idx ON cmp.sim_card (customer_id, iccid);
COMMENT ON TABLE cmp.sim_card IS 'SIM cards of an account, optionally assigned to one of its customers';

CREATE TABLE cmp.customer_status_transition (
	from_status text NOT NULL
		CHECK (from_status OPERATOR(pg_catalog.=) ANY (ARRAY['DRAFT', 'ACTIVE', 'SUSPENDED', 'TERMINATED'])),
	to_status text NOT NULL
		CHECK (to_status OPERATOR(pg_catalog.=) ANY (ARRAY['ACTIVE', 'SUSPENDED', 'TERMINATED'])),
	PRIMARY KEY (from_status, to_status),
	CHECK (from_status OPERATOR(pg_catalog.<>) to_status)
);
COMMENT ON TABLE cmp.customer_status_transition IS 'the customer lifecycle: allowed status changes';
INSERT INTO cmp.customer_status_transition (from_status, to_status) VALUES
	('DRAFT', 'ACTIVE'), ('DRAFT', 'TERMINATED'),
	('ACTIVE', 'SUSPENDED'), ('SUSPENDED', 'ACTIVE'),
	('ACTIVE', 'TERMINATED'), ('SUSPENDED', 'TERMINATED');

-- History tables outlive the customers they describe (a DRAFT customer may
-- be deleted), so they reference the account only.
CREATE TABLE cmp.customer_status_history (
	history_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('cmp.status_history_id_seq'),
	customer_id bigint NOT NULL,
	account_id bigint NOT NULL REFERENCES cmp.account,
	from_status text,			-- NULL for the row written at creation
	to_status text NOT NULL,
	changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by bigint,
	db_role name NOT NULL,
	reason text
);
CREATE INDEX customer_status_history_customer_idx ON cmp.customer_status_history (customer_id, history_id);
CREATE INDEX customer_status_history_account_idx ON cmp.customer_status_history (account_id);

CREATE TABLE cmp.sim_assignment_history (
	history_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('cmp.sim_history_id_seq'),
	iccid text NOT NULL,
	account_id bigint NOT NULL REFERENCES cmp.account,
	from_customer_id bigint,
	to_customer_id bigint,
	changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	changed_by bigint,
	CHECK (from_customer_id IS DISTINCT FROM to_customer_id)
);
CREATE INDEX sim_assignment_history_iccid_idx ON cmp.sim_assignment_history (iccid);
CREATE INDEX sim_assignment_history_account_idx ON cmp.sim_assignment_history (account_id);
CREATE INDEX sim_assignment_history_from_idx ON cmp.sim_assignment_history (from_customer_id);
CREATE INDEX sim_assignment_history_to_idx ON cmp.sim_assignment_history (to_customer_id);

CREATE TABLE cmp.audit_log (
	event_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('cmp.audit_event_id_seq'),
	occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	actor_user_id bigint,		-- NULL: the system actor
	db_role name NOT NULL,
	operation text NOT NULL,
	resource_type text NOT NULL,
	resource_id text,
	account_id bigint,
	customer_id bigint,
	previous_value jsonb,
	new_value jsonb,
	reason text
);
CREATE INDEX audit_log_account_idx ON cmp.audit_log (account_id);
CREATE INDEX audit_log_customer_idx ON cmp.audit_log (customer_id);
COMMENT ON TABLE cmp.audit_log IS 'one row per changing call; append-only';

-- pg_dump keeps the data of every table and the position of every sequence.
-- The transition table dumps only rows a DBA added to the seeded lifecycle.
SELECT pg_catalog.pg_extension_config_dump('cmp.account', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.app_user', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.customer', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.user_customer', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.sim_card', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.customer_status_transition',
	$$WHERE (from_status, to_status) NOT IN (('DRAFT', 'ACTIVE'), ('DRAFT', 'TERMINATED'),
		('ACTIVE', 'SUSPENDED'), ('SUSPENDED', 'ACTIVE'), ('ACTIVE', 'TERMINATED'),
		('SUSPENDED', 'TERMINATED'))$$);
SELECT pg_catalog.pg_extension_config_dump('cmp.customer_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.sim_assignment_history', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.account_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.user_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.customer_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.status_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.sim_history_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('cmp.audit_event_id_seq', '');

-- ---------------------------------------------------------------------------
-- The actor (actor.c). The acting CMP user is held by the superuser-only
-- setting cmp.actor, which only cmp.set_actor changes for other roles.
-- ---------------------------------------------------------------------------

CREATE FUNCTION cmp.set_actor(user_id bigint, is_local boolean DEFAULT true) RETURNS void
	AS 'MODULE_PATHNAME', 'set_actor'
	LANGUAGE C VOLATILE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.set_actor(bigint, boolean) IS
	'act as this CMP user until the end of the transaction (is_local) or session; EXECUTE is granted by the DBA';
CREATE FUNCTION cmp.clear_actor() RETURNS void
	AS 'MODULE_PATHNAME', 'clear_actor'
	LANGUAGE C VOLATILE SECURITY DEFINER;
CREATE FUNCTION cmp.actor_id() RETURNS bigint
	AS 'MODULE_PATHNAME', 'actor_id'
	LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION cmp.whoami(OUT user_id bigint, OUT login text, OUT context_level text,
		OUT account_id bigint, OUT customer_ids bigint[]) RETURNS record
	AS 'MODULE_PATHNAME', 'whoami'
	LANGUAGE C STABLE SECURITY DEFINER;

-- What the policies read. Every policy but app_user's is a call of
-- cmp.actor_sees(account_id, customer_id): may the acting user see a row of
-- this account and customer? When the extension's planner hook plans a
-- statement, the call's planner support function replaces it by the
-- condition it stands for, with the acting user's values as constants:
--   a CSP user (or the system actor)    true
--   an ACCOUNT user                      account_id = '3'::bigint
--   a CUSTOMER user with one customer    customer_id = '17'::bigint
--   ... with other numbers of customers  customer_id = ANY ('{17,42}'::bigint[])
--   nobody, or a LOCKED user             false
-- which the planner estimates and indexes exactly like the same query
-- written by hand (customer_id = N can walk an index on (customer_id,
-- iccid) in ICCID order). app_user's policy needs a sub-select for customer
-- users; it reads the same values from the IMMUTABLE actor_policy_*
-- functions, which the planner folds into constants.
--
-- Such a plan belongs to its actor: actor.c resets the plan cache whenever
-- the actor, or what a customer user may see, changes; and the planner hook
-- puts one check on top of every plan that folded the actor, evaluated once
-- when the plan runs: cmp.actor_must_be(kind, account, customers) raises
-- 42501 if the plan was made for another acting user, so a plan that
-- outlived a change of actor can show neither the other actor's rows nor,
-- silently, none.
--
-- A statement planned without the hook (the one that loads the library in a
-- session, unless it is preloaded) folds nothing: cmp.actor_sees then runs
-- for every row, and actor_policy_kind() is UNFOLDED.
CREATE FUNCTION cmp.actor_sees_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'actor_sees_support'
	LANGUAGE C STRICT;
CREATE FUNCTION cmp.actor_sees(account_id bigint, customer_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_sees'
	LANGUAGE C STABLE PARALLEL RESTRICTED SUPPORT cmp.actor_sees_support;
-- a row of two customers (a SIM moved from one to the other)
CREATE FUNCTION cmp.actor_sees(account_id bigint, customer_id bigint, other_customer_id bigint)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_sees'
	LANGUAGE C STABLE PARALLEL RESTRICTED SUPPORT cmp.actor_sees_support;
-- The kind of the acting user as the policies see it: CSP, ACCOUNT,
-- CUSTOMER (one customer), CUSTOMERS (any other number), NONE, or UNFOLDED.
CREATE FUNCTION cmp.actor_policy_kind() RETURNS text
	AS 'MODULE_PATHNAME', 'actor_policy_kind'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION cmp.actor_policy_customer_id() RETURNS bigint
	AS 'MODULE_PATHNAME', 'actor_policy_customer_id'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION cmp.actor_policy_customer_ids() RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'actor_policy_customer_ids'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- The check on top of a folded plan: true if the acting user is still of
-- this kind, account and customers, else an error (42501). Every query runs
-- it, so EXECUTE must stay granted to PUBLIC.
CREATE FUNCTION cmp.actor_must_be(kind text, account_id bigint, customer_ids bigint[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_must_be'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION cmp.actor_is_active() RETURNS boolean
	AS 'MODULE_PATHNAME', 'actor_is_active'
	LANGUAGE C STABLE PARALLEL SAFE;

-- Changes that alter what an actor sees (assignments, customer status, user
-- status or role mapping) make every session drop its cached actor: the
-- trigger sends a relcache invalidation of this sequence, which no query
-- uses, so that the signal makes nobody replan (it hands out no numbers).
CREATE SEQUENCE cmp.actor_cache_signal;
SELECT pg_catalog.pg_extension_config_dump('cmp.actor_cache_signal', '');
CREATE FUNCTION cmp.actor_cache_invalidate() RETURNS trigger
	AS 'MODULE_PATHNAME', 'actor_cache_invalidate'
	LANGUAGE C;
CREATE TRIGGER app_user_actor_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON cmp.app_user FOR EACH STATEMENT EXECUTE FUNCTION cmp.actor_cache_invalidate();
CREATE TRIGGER user_customer_actor_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON cmp.user_customer FOR EACH STATEMENT EXECUTE FUNCTION cmp.actor_cache_invalidate();
CREATE TRIGGER customer_actor_cache AFTER UPDATE OF status OR DELETE OR TRUNCATE
	ON cmp.customer FOR EACH STATEMENT EXECUTE FUNCTION cmp.actor_cache_invalidate();

-- ---------------------------------------------------------------------------
-- Row-level security (SPEC §5). Enabled and forced on every table. Writes
-- have no policy: only the owner writes, through the functions below.
-- ---------------------------------------------------------------------------

ALTER TABLE cmp.account ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.account FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.app_user ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.app_user FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.customer ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.customer FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.user_customer ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.user_customer FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.sim_card ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.sim_card FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.customer_status_transition ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.customer_status_transition FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.customer_status_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.customer_status_history FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.sim_assignment_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.sim_assignment_history FORCE ROW LEVEL SECURITY;
ALTER TABLE cmp.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmp.audit_log FORCE ROW LEVEL SECURITY;

CREATE POLICY account_visible ON cmp.account FOR SELECT
	USING (cmp.actor_sees(account_id, NULL));

CREATE POLICY app_user_visible ON cmp.app_user FOR SELECT USING (
	CASE cmp.actor_policy_kind()
		WHEN 'CUSTOMER' THEN user_id OPERATOR(pg_catalog.=) ANY (
			SELECT uc.user_id FROM cmp.user_customer uc
			 WHERE uc.customer_id OPERATOR(pg_catalog.=) cmp.actor_policy_customer_id())
		WHEN 'CUSTOMERS' THEN user_id OPERATOR(pg_catalog.=) ANY (
			SELECT uc.user_id FROM cmp.user_customer uc
			 WHERE uc.customer_id OPERATOR(pg_catalog.=) ANY (cmp.actor_policy_customer_ids()))
		WHEN 'UNFOLDED' THEN cmp.actor_sees(account_id, NULL) OR user_id OPERATOR(pg_catalog.=) ANY (
			SELECT uc.user_id FROM cmp.user_customer uc
			 WHERE cmp.actor_sees(uc.account_id, uc.customer_id))
		ELSE cmp.actor_sees(account_id, NULL)
	END);

CREATE POLICY customer_visible ON cmp.customer FOR SELECT
	USING (cmp.actor_sees(account_id, customer_id));

CREATE POLICY user_customer_visible ON cmp.user_customer FOR SELECT
	USING (cmp.actor_sees(account_id, customer_id));

CREATE POLICY sim_card_visible ON cmp.sim_card FOR SELECT
	USING (cmp.actor_sees(account_id, customer_id));

CREATE POLICY customer_status_transition_visible ON cmp.customer_status_transition FOR SELECT
	USING ((SELECT cmp.actor_is_active()));

CREATE POLICY customer_status_history_visible ON cmp.customer_status_history FOR SELECT
	USING (cmp.actor_sees(account_id, customer_id));

CREATE POLICY sim_assignment_history_visible ON cmp.sim_assignment_history FOR SELECT
	USING (cmp.actor_sees(account_id, from_customer_id, to_customer_id));

CREATE POLICY audit_log_visible ON cmp.audit_log FOR SELECT
	USING (cmp.actor_sees(account_id, customer_id));

-- ---------------------------------------------------------------------------
-- Views. security_invoker: the reader's policies apply to every table.
-- ---------------------------------------------------------------------------

-- The SIM Grid of the Enterprise Portal. A CUSTOMER user does not see the
-- account, so account_number is NULL for it.
CREATE VIEW cmp.sim_grid WITH (security_invoker = true) AS
SELECT s.iccid, s.imsi, s.msisdn,
	   s.account_id, a.account_number,
	   s.customer_id, c.customer_number, c.name AS customer_name, c.status AS customer_status,
	   s.assigned_at
  FROM cmp.sim_card s
  LEFT JOIN cmp.account a ON a.account_id OPERATOR(pg_catalog.=) s.account_id
  LEFT JOIN cmp.customer c ON c.customer_id OPERATOR(pg_catalog.=) s.customer_id;

CREATE VIEW cmp.customer_overview WITH (security_invoker = true) AS
SELECT c.customer_id, c.account_id, c.customer_number, c.external_customer_number,
	   c.name, c.status, c.billable, c.admin_user_id,
	   (SELECT pg_catalog.count(*) FROM cmp.sim_card s
		 WHERE s.customer_id OPERATOR(pg_catalog.=) c.customer_id) AS sim_count,
	   (SELECT pg_catalog.count(*) FROM cmp.user_customer uc
		 WHERE uc.customer_id OPERATOR(pg_catalog.=) c.customer_id) AS user_count,
	   c.created_at, c.activated_at, c.terminated_at
  FROM cmp.customer c;

-- ---------------------------------------------------------------------------
-- Changing functions. SECURITY DEFINER: they write as the owner and check
-- the actor themselves against the operation table of SPEC §5.
-- ---------------------------------------------------------------------------

CREATE FUNCTION cmp.create_account(account_number text, name text,
		account_type text DEFAULT 'STANDARD',
		customer_invoice_creation boolean DEFAULT NULL,
		customer_invoice_type text DEFAULT NULL,
		customer_billing_cycle_day integer DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_account'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.create_user(login text, email text, context_level text,
		account_id bigint DEFAULT NULL, full_name text DEFAULT NULL,
		is_admin boolean DEFAULT false, db_role name DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_user'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.provision_sims(account_id bigint, iccids text[],
		imsis text[] DEFAULT NULL, msisdns text[] DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'provision_sims'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.create_customer(account_id bigint, name text,
		billable boolean DEFAULT false, status text DEFAULT 'DRAFT',
		external_customer_number text DEFAULT NULL, description text DEFAULT NULL,
		country text DEFAULT NULL, state text DEFAULT NULL, zip_code text DEFAULT NULL,
		city text DEFAULT NULL, street text DEFAULT NULL, phone text DEFAULT NULL,
		homepage text DEFAULT NULL, linkedin text DEFAULT NULL,
		estimated_annual_revenue numeric DEFAULT NULL, revenue_currency text DEFAULT NULL,
		admin_login text DEFAULT NULL, admin_email text DEFAULT NULL,
		admin_full_name text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_customer'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.update_customer(customer_id bigint, changes jsonb) RETURNS void
	AS 'MODULE_PATHNAME', 'update_customer'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.delete_customer(customer_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'delete_customer'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.set_customer_status(customer_id bigint, status text,
		reason text DEFAULT NULL, release_sims boolean DEFAULT false) RETURNS text
	AS 'MODULE_PATHNAME', 'set_customer_status'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.create_customer_user(customer_ids bigint[], login text, email text,
		full_name text DEFAULT NULL, is_admin boolean DEFAULT false,
		db_role name DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'create_customer_user'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.assign_user_to_customers(user_id bigint, customer_ids bigint[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'assign_user_to_customers'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.unassign_user_from_customers(user_id bigint, customer_ids bigint[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'unassign_user_from_customers'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.set_user_status(user_id bigint, status text) RETURNS text
	AS 'MODULE_PATHNAME', 'set_user_status'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.assign_sims(customer_id bigint, iccids text[], reassign boolean DEFAULT false)
		RETURNS bigint
	AS 'MODULE_PATHNAME', 'assign_sims'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.unassign_sims(iccids text[]) RETURNS bigint
	AS 'MODULE_PATHNAME', 'unassign_sims'
	LANGUAGE C VOLATILE SECURITY DEFINER;

CREATE FUNCTION cmp.customer_status_graph() RETURNS text
	AS 'MODULE_PATHNAME', 'customer_status_graph'
	LANGUAGE C STABLE SECURITY DEFINER;
COMMENT ON FUNCTION cmp.customer_status_graph() IS
	'the customer lifecycle as Graphviz DOT, built from cmp.customer_status_transition';

-- ---------------------------------------------------------------------------
-- Grants. Reading is open (RLS decides); writing is the owner's alone.
-- ---------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA cmp FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA cmp FROM PUBLIC;
GRANT USAGE ON SCHEMA cmp TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA cmp TO PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cmp FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cmp TO PUBLIC;
REVOKE EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION cmp.actor_cache_invalidate() FROM PUBLIC;
