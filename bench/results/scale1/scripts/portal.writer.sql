\set k :k + 1
\set cid 100002 + :client_id + 2 * ((:k - 1) % 100)
\set par ((:k - 1) / 100) % 2
SELECT cmp.set_customer_status(customer_id => :cid,
	status => (ARRAY['SUSPENDED', 'ACTIVE'])[:par + 1], reason => 'benchmark');
