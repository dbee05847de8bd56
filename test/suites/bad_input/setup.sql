-- test/suites/bad_input/setup.sql -- the fixture and the tables of values
-- for test/suites/bad_input.sh (SPEC §10, "Bad input").
--
-- Run as a superuser in a fresh database with psql variables
--   app_role     a non-superuser LOGIN-less role the second pass runs as
--   spare_role   an existing role no CMP user is mapped to (valid db_role)
--   mapped_role  an existing role already mapped to a CMP user
--   nosuch_role  a role name that does not exist
--
-- It creates the extension, a small fixture made through the extension's
-- functions (as the system actor), and in schema bad_input:
--   fx            fixture ids by key
--   valid_default a valid SQL expression per (function, argument)
--   bad_value     bad SQL expressions per argument type, or per argument
--                 name (wrong formats, other tenants' ids); %V in an
--                 expression stands for the argument's valid default
--   big           the million-element arrays, built once
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION reseller_onboarding;
CREATE SCHEMA bad_input;

-- ICCID helpers: the Luhn check digit for an 18-digit payload.
CREATE FUNCTION bad_input.luhn_digit(payload text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
	SELECT ((10 - sum(CASE WHEN j % 2 = 1
			THEN d * 2 - CASE WHEN d * 2 > 9 THEN 9 ELSE 0 END
			ELSE d END) % 10) % 10)::int
	  FROM (SELECT substr(reverse(payload), j, 1)::int AS d, j
			  FROM generate_series(1, length(payload)) AS j) AS s
$$;
-- the n-th fixture ICCID: 19 digits, 89 49 ..., valid check digit
CREATE FUNCTION bad_input.iccid(n int) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT p || bad_input.luhn_digit(p)
	  FROM (SELECT '894900000000000' || lpad(n::text, 3, '0') AS p) AS s
$$;

CREATE TABLE bad_input.fx (key text PRIMARY KEY, id bigint NOT NULL);

-- ---------------------------------------------------------------------------
-- Fixture, through the functions, as the system actor (superuser, no actor)
-- ---------------------------------------------------------------------------
SELECT cmp.create_account(account_number => 'BI-A', name => 'Bad Input Reseller',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 1) AS a1 \gset
SELECT cmp.create_account(account_number => 'BI-B', name => 'Bad Input Standard') AS b1 \gset

SELECT cmp.create_user(login => 'bi_csp', email => 'bi.csp@example.com',
	context_level => 'CSP', is_admin => true) AS csp \gset
SELECT cmp.create_user(login => 'bi_aadm', email => 'bi.aadm@example.com',
	context_level => 'ACCOUNT', account_id => :a1, is_admin => true) AS aadm \gset
SELECT cmp.create_user(login => 'bi_auser', email => 'bi.auser@example.com',
	context_level => 'ACCOUNT', account_id => :a1) AS auser \gset
SELECT cmp.create_user(login => 'bi_badm', email => 'bi.badm@example.com',
	context_level => 'ACCOUNT', account_id => :b1, is_admin => true,
	db_role => :'mapped_role') AS badm \gset

-- customers of A: DRAFT with admin, ACTIVE with admin, a deletable DRAFT,
-- SUSPENDED and TERMINATED ones; one DRAFT customer of B
SELECT cmp.create_customer(account_id => :a1, name => 'BI Draft', external_customer_number => 'EXT-D',
	admin_login => 'bi_cd_admin', admin_email => 'bi.cd@example.com') AS cd \gset
SELECT cmp.create_customer(account_id => :a1, name => 'BI Active', status => 'ACTIVE',
	external_customer_number => 'EXT-1', billable => true, country => 'DE', city => 'Berlin',
	street => 'Hauptstr. 1', zip_code => '10115',
	admin_login => 'bi_ca_admin', admin_email => 'bi.ca@example.com') AS ca \gset
SELECT cmp.create_customer(account_id => :a1, name => 'BI Deletable') AS cdel \gset
SELECT cmp.create_customer(account_id => :a1, name => 'BI Suspended', status => 'ACTIVE',
	admin_login => 'bi_cs_admin', admin_email => 'bi.cs@example.com') AS cs \gset
SELECT cmp.set_customer_status(customer_id => :cs, status => 'SUSPENDED');
SELECT cmp.create_customer(account_id => :a1, name => 'BI Terminated', status => 'ACTIVE',
	admin_login => 'bi_ct_admin', admin_email => 'bi.ct@example.com') AS ct \gset
SELECT cmp.set_customer_status(customer_id => :ct, status => 'TERMINATED', reason => 'fixture');
SELECT cmp.create_customer(account_id => :b1, name => 'BI Other Tenant',
	admin_login => 'bi_cb_admin', admin_email => 'bi.cb@example.com') AS cb \gset

SELECT cmp.create_customer_user(customer_ids => ARRAY[:cd, :ca]::bigint[], login => 'bi_cu1',
	email => 'bi.cu1@example.com') AS cu1 \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:ca]::bigint[], login => 'bi_cu2',
	email => 'bi.cu2@example.com') AS cu2 \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:cb]::bigint[], login => 'bi_cub',
	email => 'bi.cub@example.com') AS cub \gset

-- SIMs: 1..8 in A (1, 2 on BI Active; 5 on BI Draft; the rest free),
-- 11..12 in B; 101, 102 are new (the valid ones to provision), 201 unknown
SELECT cmp.provision_sims(account_id => :a1,
	iccids => ARRAY(SELECT bad_input.iccid(n) FROM generate_series(1, 8) AS n),
	imsis => ARRAY(SELECT '26201000000000' || n FROM generate_series(1, 8) AS n),
	msisdns => ARRAY(SELECT '4917000000' || n FROM generate_series(1, 8) AS n));
SELECT cmp.provision_sims(account_id => :b1,
	iccids => ARRAY[bad_input.iccid(11), bad_input.iccid(12)]);
SELECT cmp.assign_sims(customer_id => :ca, iccids => ARRAY[bad_input.iccid(1), bad_input.iccid(2)]);
SELECT cmp.assign_sims(customer_id => :cd, iccids => ARRAY[bad_input.iccid(5)]);

INSERT INTO bad_input.fx (key, id) VALUES
	('a1', :a1), ('b1', :b1), ('csp', :csp), ('aadm', :aadm), ('auser', :auser),
	('badm', :badm), ('cd', :cd), ('ca', :ca), ('cdel', :cdel), ('cs', :cs),
	('ct', :ct), ('cb', :cb), ('cu1', :cu1), ('cu2', :cu2), ('cub', :cub);
-- the Customer Admin User of BI Active: the actor of the third pass
INSERT INTO bad_input.fx (key, id)
SELECT 'ca_admin', admin_user_id FROM cmp.customer WHERE customer_id = :ca;

-- The fixture must be what the defaults below assume.
DO $$
BEGIN
	IF (SELECT string_agg(status, ',' ORDER BY customer_id) FROM cmp.customer)
		IS DISTINCT FROM 'DRAFT,ACTIVE,DRAFT,SUSPENDED,TERMINATED,DRAFT' THEN
		RAISE EXCEPTION 'bad_input fixture: unexpected customer states';
	END IF;
	IF (SELECT count(*) FROM cmp.sim_card WHERE customer_id IS NOT NULL) <> 3 THEN
		RAISE EXCEPTION 'bad_input fixture: unexpected SIM assignments';
	END IF;
END $$;

-- ---------------------------------------------------------------------------
-- Valid defaults: one valid SQL expression per (function, argument). With
-- every argument at its default, the call succeeds for the system actor and
-- for the ACCOUNT admin of BI-A (except what only a CSP may do).
-- ---------------------------------------------------------------------------
CREATE TABLE bad_input.valid_default (
	fn text NOT NULL,
	arg text NOT NULL,
	expr text NOT NULL,
	PRIMARY KEY (fn, arg)
);

INSERT INTO bad_input.valid_default (fn, arg, expr) VALUES
	('set_actor', 'user_id', :'aadm'),
	('set_actor', 'is_local', 'true'),
	('actor_sees_user', 'user_id', :'aadm'),
	('actor_gate', 'allowed', 'true'),
	('maintain_partition', 'partitioned_table', '''cmp.audit_log'''),
	('actor_sees', 'account_id', :'a1'),
	('actor_sees', 'customer_id', :'ca'),
	('actor_sees', 'other_customer_id', :'ca'),
	('iccid_is_valid', 'value', quote_literal(bad_input.iccid(1))),
	('iccid_problem', 'value', quote_literal(bad_input.iccid(1))),
	('imsi_is_valid', 'value', '''262010000000001'''),
	('msisdn_is_valid', 'value', '''491700000001'''),
	('phone_is_valid', 'value', '''+4930123456'''),
	('url_is_valid', 'value', '''https://example.com/x'''),
	('email_is_valid', 'value', '''x@example.com'''),
	('country_is_valid', 'value', '''DE'''),
	('currency_is_valid', 'value', '''EUR'''),
	('event_type_is_valid', 'value', '''customer.created'''),

	('create_account', 'account_number', '''BI-NEW'''),
	('create_account', 'name', '''New Reseller'''),
	('create_account', 'account_type', '''RESELLER'''),
	('create_account', 'customer_invoice_creation', 'true'),
	('create_account', 'customer_invoice_type', '''PDF'''),
	('create_account', 'customer_billing_cycle_day', '15'),

	('create_user', 'login', '''bi_new_user'''),
	('create_user', 'email', '''bi.new@example.com'''),
	('create_user', 'context_level', '''ACCOUNT'''),
	('create_user', 'account_id', :'a1'),
	('create_user', 'full_name', '''New User'''),
	('create_user', 'is_admin', 'false'),
	('create_user', 'db_role', quote_literal(:'spare_role')),

	('provision_sims', 'account_id', :'a1'),
	('provision_sims', 'iccids', format('ARRAY[%L, %L]', bad_input.iccid(101), bad_input.iccid(102))),
	('provision_sims', 'imsis', 'ARRAY[''262010000000101'', ''262010000000102'']'),
	('provision_sims', 'msisdns', 'ARRAY[''4917000000101'', ''4917000000102'']'),

	('create_customer', 'account_id', :'a1'),
	('create_customer', 'name', '''New Customer'''),
	('create_customer', 'billable', 'true'),
	('create_customer', 'status', '''ACTIVE'''),
	('create_customer', 'external_customer_number', '''EXT-NEW'''),
	('create_customer', 'description', '''created by the bad input sweep'''),
	('create_customer', 'country', '''DE'''),
	('create_customer', 'state', '''Berlin'''),
	('create_customer', 'zip_code', '''10115'''),
	('create_customer', 'city', '''Berlin'''),
	('create_customer', 'street', '''Unter den Linden 1'''),
	('create_customer', 'phone', '''+4930123456'''),
	('create_customer', 'homepage', '''https://example.com'''),
	('create_customer', 'linkedin', '''https://www.linkedin.com/company/example'''),
	('create_customer', 'estimated_annual_revenue', '1000000.50'),
	('create_customer', 'revenue_currency', '''EUR'''),
	('create_customer', 'admin_login', '''bi_new_admin'''),
	('create_customer', 'admin_email', '''bi.new.admin@example.com'''),
	('create_customer', 'admin_full_name', '''New Admin'''),

	('update_customer', 'customer_id', :'cd'),
	('update_customer', 'changes', '''{"description": "updated by the sweep", "city": "Hamburg"}'''),
	('delete_customer', 'customer_id', :'cdel'),

	('set_customer_status', 'customer_id', :'ca'),
	('set_customer_status', 'status', '''SUSPENDED'''),
	('set_customer_status', 'reason', '''bad input sweep'''),
	('set_customer_status', 'release_sims', 'false'),

	('create_customer_user', 'customer_ids', format('ARRAY[%s, %s]', :'cd', :'ca')),
	('create_customer_user', 'login', '''bi_new_cu'''),
	('create_customer_user', 'email', '''bi.new.cu@example.com'''),
	('create_customer_user', 'full_name', '''New Customer User'''),
	('create_customer_user', 'is_admin', 'false'),
	('create_customer_user', 'db_role', quote_literal(:'spare_role')),

	('assign_user_to_customers', 'user_id', :'cu2'),
	('assign_user_to_customers', 'customer_ids', format('ARRAY[%s]', :'cd')),
	('unassign_user_from_customers', 'user_id', :'cu1'),
	('unassign_user_from_customers', 'customer_ids', format('ARRAY[%s]', :'cd')),
	('set_user_status', 'user_id', :'cu1'),
	('set_user_status', 'status', '''LOCKED'''),

	('assign_sims', 'customer_id', :'ca'),
	('assign_sims', 'iccids', format('ARRAY[%L, %L]', bad_input.iccid(3), bad_input.iccid(4))),
	('assign_sims', 'reassign', 'false'),
	('unassign_sims', 'iccids', format('ARRAY[%L, %L]', bad_input.iccid(1), bad_input.iccid(2))),

	-- request ids of the creating functions
	('create_account', 'request_id', '''6f1c2a7e-2b4d-4c9a-9e58-0c1b2d3e4f51'''),
	('create_user', 'request_id', '''6f1c2a7e-2b4d-4c9a-9e58-0c1b2d3e4f52'''),
	('create_customer', 'request_id', '''6f1c2a7e-2b4d-4c9a-9e58-0c1b2d3e4f53'''),
	('create_customer_user', 'request_id', '''6f1c2a7e-2b4d-4c9a-9e58-0c1b2d3e4f54'''),

	-- bulk requests
	('assign_sim_range', 'customer_id', :'ca'),
	('assign_sim_range', 'first_iccid', quote_literal(bad_input.iccid(3))),
	('assign_sim_range', 'last_iccid', quote_literal(bad_input.iccid(4))),
	('assign_sim_range', 'reassign', 'false'),
	('assign_free_sims', 'customer_id', :'ca'),
	('assign_free_sims', 'count', '1'),
	('assign_free_sims', 'iccid_prefix', '''8949'''),
	('import_customers', 'customers', format('''[{"account_id": %s, "name": "Imported"}]''', :'a1')),
	('import_customers', 'all_or_nothing', 'true'),
	('import_customers', 'request_id', '''6f1c2a7e-2b4d-4c9a-9e58-0c1b2d3e4f55'''),

	-- the change feed (each pass's actor has a consumer bi_feed, see below)
	('create_event_consumer', 'name', '''bi_new_feed'''),
	('drop_event_consumer', 'name', '''bi_feed'''),
	('read_events', 'consumer', '''bi_feed'''),
	('read_events', 'max_events', '10'),
	('ack_events', 'consumer', '''bi_feed'''),
	('ack_events', 'up_to_event_id', '0'),
	('purge_events', 'older_than', '''30 days'''),

	-- identities
	('actor_can', 'operation', '''create_customer'''),
	('actor_can', 'object_id', :'a1'),
	('add_identity_key', 'key_id', '''bi-new-key'''),
	('add_identity_key', 'issuer', '''https://idp.example.com'''),
	('add_identity_key', 'algorithm', '''HS256'''),
	('add_identity_key', 'key', '''MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY'''),
	('add_identity_key', 'audience', '''cmp'''),
	('add_identity_key', 'valid_until', '''2099-01-01 00:00:00+00'''),
	('revoke_identity_key', 'key_id', '''bi-key'''),
	('set_actor_token', 'token', '''eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl'''),
	('set_actor_token', 'is_local', 'true'),
	('set_actor_by_login', 'login', '''bi_aadm'''),
	('set_actor_by_login', 'is_local', 'true');

-- the consumers and the key the defaults above name
SELECT cmp.create_event_consumer('bi_feed');
SELECT cmp.add_identity_key('bi-key', 'https://idp.example.com', 'HS256',
	'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY');
BEGIN;
SELECT cmp.set_actor(:aadm);
SELECT cmp.create_event_consumer('bi_feed');
COMMIT;
BEGIN;
SELECT cmp.set_actor((SELECT id FROM bad_input.fx WHERE key = 'ca_admin'));
SELECT cmp.create_event_consumer('bi_feed');
COMMIT;

-- ---------------------------------------------------------------------------
-- The million-element arrays, built once.
-- ---------------------------------------------------------------------------
CREATE TABLE bad_input.big (k text PRIMARY KEY, t text[], b bigint[]);
-- ICCIDs 8999 0000 0000 + a 6-digit counter + the Luhn digit: the counter's
-- share of the Luhn sum is computed digit by digit (odd positions from the
-- right of the payload are doubled), the prefix's once.
INSERT INTO bad_input.big (k, t)
SELECT 'iccids', array_agg(p || ((10 - (sp + cs) % 10) % 10)::text ORDER BY i)
  FROM (SELECT i, '899900000000' || lpad(i::text, 6, '0') AS p,
			   (10 - bad_input.luhn_digit('899900000000')) % 10 AS sp,
			   (i % 10) * 2 - CASE WHEN i % 10 >= 5 THEN 9 ELSE 0 END
			   + (i / 10) % 10
			   + ((i / 100) % 10) * 2 - CASE WHEN (i / 100) % 10 >= 5 THEN 9 ELSE 0 END
			   + (i / 1000) % 10
			   + ((i / 10000) % 10) * 2 - CASE WHEN (i / 10000) % 10 >= 5 THEN 9 ELSE 0 END
			   + (i / 100000) % 10 AS cs
		  FROM generate_series(0, 999999) AS i) AS s;
INSERT INTO bad_input.big (k, t)
SELECT 'imsis', array_agg('99999' || lpad(i::text, 10, '0') ORDER BY i)
  FROM generate_series(0, 999999) AS i;
INSERT INTO bad_input.big (k, t)
SELECT 'msisdns', array_agg('4999' || lpad(i::text, 9, '0') ORDER BY i)
  FROM generate_series(0, 999999) AS i;
INSERT INTO bad_input.big (k, t)
SELECT 'text', array_agg('x' || i ORDER BY i) FROM generate_series(0, 999999) AS i;
INSERT INTO bad_input.big (k, b)
SELECT 'ids', array_agg(i ORDER BY i) FROM generate_series(1, 1000000) AS i;

DO $$
BEGIN
	IF NOT (SELECT bool_and(cmp.iccid_is_valid(x)) AND count(DISTINCT x) = 1000000
			  FROM unnest((SELECT t FROM bad_input.big WHERE k = 'iccids')) AS x) THEN
		RAISE EXCEPTION 'bad_input: the generated ICCIDs are not all valid and distinct';
	END IF;
	IF NOT (SELECT bool_and(cmp.imsi_is_valid(x)) FROM unnest((SELECT t FROM bad_input.big WHERE k = 'imsis')) AS x)
	   OR NOT (SELECT bool_and(cmp.msisdn_is_valid(x)) FROM unnest((SELECT t FROM bad_input.big WHERE k = 'msisdns')) AS x) THEN
		RAISE EXCEPTION 'bad_input: the generated IMSIs/MSISDNs are not valid';
	END IF;
END $$;

-- ---------------------------------------------------------------------------
-- Bad values. typ: the argument type they apply to; arg (and fn): only for
-- arguments of that name (and function). %V: the argument's valid default.
-- heavy: a million elements; tried once per array argument and actor.
-- ---------------------------------------------------------------------------
CREATE TABLE bad_input.bad_value (
	id serial PRIMARY KEY,
	typ regtype NOT NULL,
	label text NOT NULL,
	expr text NOT NULL,
	arg text,
	fn text,
	heavy boolean NOT NULL DEFAULT false
);

-- text: every text argument
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('text', 'NULL', 'NULL'),
	('text', 'empty', ''''''),
	('text', 'blanks', '''   '''),
	('text', 'tab and newline only', 'E''\t\n'''),
	('text', '1 MB string', 'repeat(''x'', 1048576)'),
	('text', '1 MB of 3-byte chars', 'repeat(''€'', 349526)'),
	('text', '201 chars', 'repeat(''y'', 201)'),
	('text', '2049 chars', 'repeat(''z'', 2049)'),
	('text', 'control char \x01', 'E''a\x01b'''),
	('text', 'newline inside', 'E''a\nb'''),
	('text', 'DEL \x7f', 'E''a\x7fb'''),
	('text', 'carriage return', 'E''a\rb'''),
	('text', 'SQL injection', '''''''; DROP TABLE cmp.customer; --'''),
	('text', 'double quote', '''"'''),
	('text', 'backslash', 'E''\\'''),
	('text', 'printf format', '''%s%n%d%x%%'''),
	('text', 'emoji', '''Tiny 🦄 Co'''),
	('text', 'RTL override', 'E''\u202Egnp.exe'''),
	('text', 'zero-width space', 'E''a\u200Bb'''),
	('text', 'C1 control U+0085', 'E''a\u0085b'''),
	('text', 'valid, padded with blanks', '''  '' || (%V) || ''  '''),
	('text', 'valid, lower case', 'lower(%V)'),
	('text', 'valid, upper case', 'upper(%V)'),
	('text', 'valid + trailing \x01', '(%V) || E''\x01''');

-- text: wrong formats and rule-breaking values, per argument name
INSERT INTO bad_input.bad_value (typ, label, expr, arg, fn) VALUES
	('text', 'unknown account type', '''PARTNER''', 'account_type', NULL),
	('text', 'STANDARD with a reseller profile', '''STANDARD''', 'account_type', NULL),
	('text', 'unknown invoice type', '''XML''', 'customer_invoice_type', NULL),
	('text', 'duplicate account number', '''BI-A''', 'account_number', NULL),
	('text', 'CUSTOMER via create_user', '''CUSTOMER''', 'context_level', NULL),
	('text', 'CSP with an account', '''CSP''', 'context_level', NULL),
	('text', 'unknown context level', '''ROOT''', 'context_level', NULL),
	('text', 'duplicate login', '''bi_aadm''', 'login', NULL),
	('text', 'duplicate login, other case', '''BI_AADM''', 'login', NULL),
	('text', 'duplicate login', '''bi_aadm''', 'admin_login', NULL),
	('text', 'no @', '''not-an-email''', 'email', NULL),
	('text', 'no domain', '''a@''', 'email', NULL),
	('text', 'no local part', '''@example.com''', 'email', NULL),
	('text', 'blank inside', '''a b@example.com''', 'email', NULL),
	('text', 'two @', '''a@@example.com''', 'email', NULL),
	('text', '255 chars', 'repeat(''a'', 64) || ''@'' || repeat(''b'', 186) || ''.com''', 'email', NULL),
	('text', 'no @', '''not-an-email''', 'admin_email', NULL),
	('text', 'two @', '''a@@example.com''', 'admin_email', NULL),
	('text', 'unknown status', '''DELETED''', 'status', NULL),
	('text', 'DRAFT', '''DRAFT''', 'status', NULL),
	('text', 'TERMINATED', '''TERMINATED''', 'status', NULL),
	('text', 'SUSPENDED', '''SUSPENDED''', 'status', 'create_customer'),
	('text', 'ACTIVE (no-op)', '''ACTIVE''', 'status', NULL),
	('text', 'user status unknown', '''DISABLED''', 'status', 'set_user_status'),
	('text', 'unassigned code XX', '''XX''', 'country', NULL),
	('text', 'alpha-3', '''DEU''', 'country', NULL),
	('text', 'lower case', '''de''', 'country', NULL),
	('text', 'digits', '''12''', 'country', NULL),
	('text', 'no plus', '''4930123456''', 'phone', NULL),
	('text', 'plus only', '''+''', 'phone', NULL),
	('text', '16 digits', '''+1234567890123456''', 'phone', NULL),
	('text', 'with blanks', '''+49 30 123456''', 'phone', NULL),
	('text', 'country code 0', '''+0123456''', 'phone', NULL),
	('text', 'ftp scheme', '''ftp://example.com''', 'homepage', NULL),
	('text', 'javascript:', '''javascript:alert(1)''', 'homepage', NULL),
	('text', 'no host', '''http://''', 'homepage', NULL),
	('text', 'no scheme', '''example.com''', 'homepage', NULL),
	('text', 'user info', '''http://user:pw@example.com''', 'homepage', NULL),
	('text', 'blank in host', '''http://exa mple.com''', 'homepage', NULL),
	('text', 'ftp scheme', '''ftp://example.com''', 'linkedin', NULL),
	('text', 'javascript:', '''javascript:alert(1)''', 'linkedin', NULL),
	('text', 'unknown currency', '''EURO''', 'revenue_currency', NULL),
	('text', 'lower case', '''eur''', 'revenue_currency', NULL),
	('text', 'code XXX', '''XXX''', 'revenue_currency', NULL),
	('text', 'duplicate external number', '''EXT-1''', 'external_customer_number', NULL),
	('text', '65 chars', 'repeat(''e'', 65)', 'external_customer_number', NULL),
	('text', 'duplicate name', '''BI Active''', 'name', 'create_customer'),
	('text', 'duplicate name, other case', '''bi active''', 'name', 'create_customer'),
	('text', 'name of a TERMINATED customer', '''BI Terminated''', 'name', 'create_customer'),
	('text', '21-char zip', 'repeat(''9'', 21)', 'zip_code', NULL),
	('text', 'bad Luhn', quote_literal(left(bad_input.iccid(1), 18) || ((right(bad_input.iccid(1), 1)::int + 1) % 10)), 'value', 'iccid_is_valid'),
	('text', 'bad Luhn', quote_literal(left(bad_input.iccid(1), 18) || ((right(bad_input.iccid(1), 1)::int + 1) % 10)), 'value', 'iccid_problem'),
	('text', '21 digits', '''891234567890123456789''', 'value', 'iccid_problem'),
	('text', 'prefix 88', '''8812345678901234567''', 'value', 'iccid_problem'),
	('text', '14 digits', '''26201000000000''', 'value', 'imsi_is_valid'),
	('text', '7 digits', '''4917000''', 'value', 'msisdn_is_valid'),
	('text', 'no plus', '''4930123456''', 'value', 'phone_is_valid'),
	('text', 'javascript:', '''javascript:alert(1)''', 'value', 'url_is_valid'),
	('text', 'very long host', '''http://'' || repeat(''a.'', 5000) || ''com''', 'value', 'url_is_valid'),
	('text', 'no @', '''not-an-email''', 'value', 'email_is_valid'),
	('text', '@ only', '''@''', 'value', 'email_is_valid'),
	('text', 'XX', '''XX''', 'value', 'country_is_valid'),
	('text', 'single letter', '''D''', 'value', 'country_is_valid'),
	('text', 'XXX', '''XXX''', 'value', 'currency_is_valid'),
	('text', 'two letters', '''EU''', 'value', 'currency_is_valid'),
	('text', 'a prefix of a type', '''customer''', 'value', 'event_type_is_valid');

-- bigint: every bigint argument; ids of other tenants and wrong kinds per name
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('bigint', 'NULL', 'NULL'),
	('bigint', '0', '0'),
	('bigint', '-1', '-1'),
	('bigint', 'max bigint', '9223372036854775807'),
	('bigint', 'min bigint', '(-9223372036854775807 - 1)'),
	('bigint', 'non-existent id', '999999999');
INSERT INTO bad_input.bad_value (typ, label, expr, arg, fn) VALUES
	('bigint', 'other tenant''s account', :'b1', 'account_id', NULL),
	('bigint', 'other tenant''s customer', :'cb', 'customer_id', NULL),
	('bigint', 'TERMINATED customer', :'ct', 'customer_id', NULL),
	('bigint', 'SUSPENDED customer', :'cs', 'customer_id', NULL),
	('bigint', 'DRAFT customer holding SIMs', :'cd', 'customer_id', NULL),
	('bigint', 'other tenant''s user', :'badm', 'user_id', NULL),
	('bigint', 'other tenant''s customer user', :'cub', 'user_id', NULL),
	('bigint', 'CSP user', :'csp', 'user_id', NULL),
	('bigint', 'ACCOUNT user', :'auser', 'user_id', NULL),
	('bigint', 'the acting user itself', :'aadm', 'user_id', NULL),
	('bigint', 'a customer admin user', format('(SELECT admin_user_id FROM cmp.customer WHERE customer_id = %s)', :'ca'), 'user_id', NULL);

-- integer
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('integer', 'NULL', 'NULL'),
	('integer', '0', '0'),
	('integer', '-1', '-1'),
	('integer', '29', '29'),
	('integer', 'max integer', '2147483647'),
	('integer', 'min integer', '(-2147483647 - 1)');

-- uuid (request ids), timestamptz (valid_until), interval (older_than)
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('uuid', 'NULL', 'NULL'),
	('uuid', 'all zeros', '''00000000-0000-0000-0000-000000000000'''),
	('uuid', 'all ones', '''ffffffff-ffff-ffff-ffff-ffffffffffff'''),
	('timestamp with time zone', 'NULL', 'NULL'),
	('timestamp with time zone', 'the past', '''2000-01-01 00:00:00+00'''),
	('timestamp with time zone', 'infinity', '''infinity'''),
	('timestamp with time zone', '-infinity', '''-infinity'''),
	('interval', 'NULL', 'NULL'),
	('interval', 'negative', '''-1 day'''),
	('interval', 'zero', '''0'''),
	('interval', 'huge', '''178000000 years'''),
	('interval', 'mixed signs', '''1 month -40 days''');

-- regclass (the table cmp.maintain_partition maintains)
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('regclass', 'NULL', 'NULL'),
	('regclass', 'a table that is not partitioned', '''cmp.sim_card'''),
	('regclass', 'a default partition', '''cmp.audit_log_default'''),
	('regclass', 'a catalog', '''pg_catalog.pg_class''');

-- numeric
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('numeric', 'NULL', 'NULL'),
	('numeric', '-1', '-1'),
	('numeric', '0', '0'),
	('numeric', 'NaN', '''NaN'''),
	('numeric', 'Infinity', '''Infinity'''),
	('numeric', '-Infinity', '''-Infinity'''),
	('numeric', '1e100', '1e100'),
	('numeric', '1e100000', '1e100000'),
	('numeric', '1e-1000', '1e-1000');

-- boolean: NULL, and the other value
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('boolean', 'NULL', 'NULL'),
	('boolean', 'the other value', 'NOT (%V)');

-- name (db_role)
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('name', 'NULL', 'NULL'),
	('name', 'empty', ''''''),
	('name', '63-char name', 'repeat(''r'', 63)'),
	('name', 'non-existent role', quote_literal(:'nosuch_role')),
	('name', 'role already mapped', quote_literal(:'mapped_role')),
	('name', 'superuser role', '''postgres'''),
	('name', 'predefined role', '''pg_read_all_data'''),
	('name', 'PUBLIC', '''public'''),
	('name', 'control char', 'E''r\x01r'''),
	('name', 'quote', '''r''''r''');

-- bigint[]: every bigint[] argument
INSERT INTO bad_input.bad_value (typ, label, expr, heavy) VALUES
	('bigint[]', 'NULL', 'NULL', false),
	('bigint[]', 'empty', '''{}''', false),
	('bigint[]', '{NULL}', '''{NULL}''', false),
	('bigint[]', 'valid + NULL', '(%V) || NULL::bigint', false),
	('bigint[]', 'duplicates', '(%V) || (%V)', false),
	('bigint[]', 'two-dimensional', 'ARRAY[(%V)[1:1] || (%V)[1:1], (%V)[1:1] || (%V)[1:1]]', false),
	('bigint[]', 'lower bound 5', '(SELECT (''[5:'' || (4 + cardinality(v)) || '']='' || v::text)::bigint[] FROM (SELECT (%V) AS v) AS s)', false),
	('bigint[]', 'lower bound -3', '(SELECT (''[-3:'' || (-4 + cardinality(v)) || '']='' || v::text)::bigint[] FROM (SELECT (%V) AS v) AS s)', false),
	('bigint[]', '{0}', '''{0}''', false),
	('bigint[]', '{-1}', '''{-1}''', false),
	('bigint[]', '{max bigint}', '''{9223372036854775807}''', false),
	('bigint[]', 'non-existent id', '''{999999999}''', false),
	('bigint[]', 'valid + non-existent', '(%V) || 999999999::bigint', false),
	('bigint[]', 'other tenant''s customer', format('ARRAY[%s]', :'cb'), false),
	('bigint[]', 'valid + other tenant''s customer', format('(%%V) || %s::bigint', :'cb'), false),
	('bigint[]', 'TERMINATED customer', format('ARRAY[%s]', :'ct'), false),
	('bigint[]', 'SUSPENDED customer', format('ARRAY[%s]', :'cs'), false),
	('bigint[]', '1,000,000 ids', '(SELECT b FROM bad_input.big WHERE k = ''ids'')', true),
	('bigint[]', '1,000,000 copies of a valid id', 'array_fill((%V)[1], ARRAY[1000000])', true);

-- text[]: every text[] argument (ICCIDs, IMSIs, MSISDNs)
INSERT INTO bad_input.bad_value (typ, label, expr, heavy) VALUES
	('text[]', 'NULL', 'NULL', false),
	('text[]', 'empty', '''{}''', false),
	('text[]', '{NULL}', '''{NULL}''', false),
	('text[]', 'valid + NULL', '(%V) || NULL::text', false),
	('text[]', 'duplicates', '(%V) || (%V)', false),
	('text[]', 'two-dimensional', 'ARRAY[(%V)[1:1] || (%V)[1:1], (%V)[1:1] || (%V)[1:1]]', false),
	('text[]', 'lower bound 5', '(SELECT (''[5:'' || (4 + cardinality(v)) || '']='' || v::text)::text[] FROM (SELECT (%V) AS v) AS s)', false),
	('text[]', 'empty element', '''{""}''', false),
	('text[]', 'blank element', '''{"   "}''', false),
	('text[]', 'valid, padded with blanks', 'ARRAY(SELECT ''  '' || x || ''  '' FROM unnest(%V) AS x)', false),
	('text[]', 'control char element', 'ARRAY[E''89\x0149'']', false),
	('text[]', 'quote element', 'ARRAY['''''' OR 1=1 --'']', false),
	('text[]', '1 MB element', 'ARRAY[repeat(''8'', 1048576)]', false),
	('text[]', 'letters', '''{abcdefghijklmnopqrs}''', false),
	('text[]', 'digits of the wrong length', '''{12345}''', false),
	('text[]', '1,000,000 copies of a valid element', 'array_fill((%V)[1], ARRAY[1000000])', true);
INSERT INTO bad_input.bad_value (typ, label, expr, arg, heavy) VALUES
	('text[]', 'bad Luhn', format('ARRAY[%L]', left(bad_input.iccid(3), 18) || ((right(bad_input.iccid(3), 1)::int + 1) % 10)), 'iccids', false),
	('text[]', 'unknown valid ICCID', format('ARRAY[%L]', bad_input.iccid(201)), 'iccids', false),
	('text[]', 'valid + unknown ICCID', format('(%%V) || %L::text', bad_input.iccid(201)), 'iccids', false),
	('text[]', 'other tenant''s SIM', format('ARRAY[%L]', bad_input.iccid(11)), 'iccids', false),
	('text[]', 'valid + other tenant''s SIM', format('(%%V) || %L::text', bad_input.iccid(11)), 'iccids', false),
	('text[]', 'SIM on another customer', format('ARRAY[%L]', bad_input.iccid(5)), 'iccids', false),
	('text[]', 'existing IMSI', '''{262010000000006, 262010000000007}''', 'imsis', false),
	('text[]', 'existing MSISDN', '''{49170000006, 49170000007}''', 'msisdns', false),
	('text[]', 'one element too few', '(%V)[1:1]', NULL, false),
	('text[]', '1,000,000 unknown ICCIDs', '(SELECT t FROM bad_input.big WHERE k = ''iccids'')', 'iccids', true),
	('text[]', '1,000,000 unknown IMSIs', '(SELECT t FROM bad_input.big WHERE k = ''imsis'')', 'imsis', true),
	('text[]', '1,000,000 unknown MSISDNs', '(SELECT t FROM bad_input.big WHERE k = ''msisdns'')', 'msisdns', true);
INSERT INTO bad_input.bad_value (typ, label, expr, arg, fn) VALUES
	('text[]', 'existing ICCID', format('ARRAY[%L, %L]', bad_input.iccid(6), bad_input.iccid(7)), 'iccids', 'provision_sims');
-- a text[] argument with no name-specific million-element array gets a
-- generic one
INSERT INTO bad_input.bad_value (typ, label, expr, arg, heavy)
SELECT 'text[]', '1,000,000 short strings', '(SELECT t FROM bad_input.big WHERE k = ''text'')', '*other*', true;

-- jsonb (update_customer's changes)
INSERT INTO bad_input.bad_value (typ, label, expr) VALUES
	('jsonb', 'NULL', 'NULL'),
	('jsonb', 'JSON null', '''null'''),
	('jsonb', 'empty object', '''{}'''),
	('jsonb', 'array', '''[]'''),
	('jsonb', 'string', '''"x"'''),
	('jsonb', 'number', '''42'''),
	('jsonb', 'unknown key', '''{"unknown": 1}'''),
	('jsonb', 'name null', '''{"name": null}'''),
	('jsonb', 'name a number', '''{"name": 1}'''),
	('jsonb', 'name an object', '''{"name": {"a": 1}}'''),
	('jsonb', 'name an array', '''{"name": ["a"]}'''),
	('jsonb', 'name empty', '''{"name": ""}'''),
	('jsonb', 'name blanks', '''{"name": "   "}'''),
	('jsonb', 'name with \x01', '''{"name": "a\u0001b"}'''),
	('jsonb', 'name with RTL override', '''{"name": "a\u202Eb"}'''),
	('jsonb', 'name 1 MB', 'jsonb_build_object(''name'', repeat(''x'', 1048576))'),
	('jsonb', 'description 1 MB', 'jsonb_build_object(''description'', repeat(''x'', 1048576))'),
	('jsonb', 'duplicate name', '''{"name": "BI Active"}'''),
	('jsonb', 'duplicate name, other case', '''{"name": "bi active"}'''),
	('jsonb', 'duplicate external number', '''{"external_customer_number": "EXT-1"}'''),
	('jsonb', 'deep nesting (1000 levels) as a value', '(''{"description": '' || repeat(''['', 1000) || repeat('']'', 1000) || ''}'')'),
	('jsonb', 'deep nesting (1000 levels)', '(repeat(''{"a": '', 1000) || ''1'' || repeat(''}'', 1000))'),
	('jsonb', '10,000 keys', '(SELECT jsonb_object_agg(''k'' || i, i) FROM generate_series(1, 10000) AS i)'),
	('jsonb', 'customer_number', '''{"customer_number": 99}'''),
	('jsonb', 'customer_id', '''{"customer_id": 99}'''),
	('jsonb', 'account_id', format('''{"account_id": %s}''', :'b1')),
	('jsonb', 'status', '''{"status": "ACTIVE"}'''),
	('jsonb', 'admin_user_id', '''{"admin_user_id": 1}'''),
	('jsonb', 'created_at', '''{"created_at": "2020-01-01"}'''),
	('jsonb', 'billable a string', '''{"billable": "yes"}'''),
	('jsonb', 'billable null', '''{"billable": null}'''),
	('jsonb', 'billable true', '''{"billable": true}'''),
	('jsonb', 'revenue negative', '''{"estimated_annual_revenue": -1, "revenue_currency": "EUR"}'''),
	('jsonb', 'revenue a string', '''{"estimated_annual_revenue": "NaN", "revenue_currency": "EUR"}'''),
	('jsonb', 'revenue huge', '''{"estimated_annual_revenue": 1e1000, "revenue_currency": "EUR"}'''),
	('jsonb', 'revenue without currency', '''{"estimated_annual_revenue": 5}'''),
	('jsonb', 'currency without revenue', '''{"revenue_currency": "EUR"}'''),
	('jsonb', 'bad country', '''{"country": "XX"}'''),
	('jsonb', 'country a number', '''{"country": 49}'''),
	('jsonb', 'bad phone', '''{"phone": "abc"}'''),
	('jsonb', 'bad homepage', '''{"homepage": "javascript:alert(1)"}'''),
	('jsonb', 'description 2001 chars', 'jsonb_build_object(''description'', repeat(''d'', 2001))'),
	('jsonb', 'description true', '''{"description": true}'''),
	('jsonb', 'key with quote', '''{"name''''; --": "x"}'''),
	('jsonb', 'empty key', '''{"": "x"}'''),
	('jsonb', 'clear every optional field', '''{"external_customer_number": null, "description": null, "country": null, "state": null, "zip_code": null, "city": null, "street": null, "phone": null, "homepage": null, "linkedin": null, "estimated_annual_revenue": null, "revenue_currency": null}''');
