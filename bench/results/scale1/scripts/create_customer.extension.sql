\set n :n + 1
SELECT cmp.create_customer(account_id => 341,
	name => 'Bench customer ' || :run || '-' || :client_id || '-' || :n,
	status => 'ACTIVE', external_customer_number => 'B' || :run || '-' || :client_id || '-' || :n,
	country => 'DE', city => 'Berlin', street => 'Benchstrasse 1', zip_code => '10115',
	admin_login => 'bench.c' || :run || '-' || :client_id || '-' || :n || '.admin',
	admin_email => 'admin' || :run || '-' || :client_id || '-' || :n || '@bench-customers.example',
	admin_full_name => 'Bench Admin');
