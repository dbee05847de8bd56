\set n :n + 1
WITH acct AS (
	UPDATE cmp.account SET last_customer_number = last_customer_number + 1
	 WHERE account_id = 341
	RETURNING account_id, account_type, last_customer_number),
adm AS (
	INSERT INTO cmp.app_user_data (login, email, full_name, is_admin, context_level, domain, account_id, created_by)
	VALUES ('bench.c' || :run || '-' || :client_id || '-' || :n || '.admin',
			'admin' || :run || '-' || :client_id || '-' || :n || '@bench-customers.example',
			'Bench Admin', true, 'CUSTOMER', 'ENTERPRISE', 341, 200002)
	RETURNING user_id),
c AS (
	INSERT INTO cmp.customer AS c (account_id, account_type, customer_number, name,
			external_customer_number, country, city, street, zip_code, status, admin_user_id,
			created_by, activated_at, activated_by)
	SELECT acct.account_id, acct.account_type, acct.last_customer_number, 'Bench customer ' || :run || '-' || :client_id || '-' || :n,
		   'B' || :run || '-' || :client_id || '-' || :n, 'DE', 'Berlin', 'Benchstrasse 1', '10115',
		   'ACTIVE', adm.user_id, 200002, now(), 200002
	  FROM acct, adm
	RETURNING c.customer_id, c.account_id, c.admin_user_id, to_jsonb(c.*) AS j),
uc AS (
	INSERT INTO cmp.user_customer (user_id, customer_id, account_id, assigned_by)
	SELECT c.admin_user_id, c.customer_id, c.account_id, 200002 FROM c),
h AS (
	INSERT INTO cmp.customer_status_history (customer_id, account_id, from_status, to_status,
			changed_by, db_role, reason)
	SELECT c.customer_id, c.account_id, NULL, 'ACTIVE', 200002, current_user, 'created' FROM c)
INSERT INTO cmp.audit_log (actor_user_id, db_role, operation, resource_type, resource_id,
		account_id, customer_id, new_value)
SELECT 200002, current_user, 'create_customer', 'customer', c.customer_id::text, c.account_id,
	   c.customer_id, c.j
  FROM c;
