\set k :k + 1
\set cid 100002 + :client_id + 2 * ((:k - 1) % 100)
\set par ((:k - 1) / 100) % 2
WITH u AS (
	UPDATE cmp.customer
	   SET status = (ARRAY['SUSPENDED', 'ACTIVE'])[:par + 1], updated_at = now(), updated_by = 200002
	 WHERE customer_id = :cid
	RETURNING customer_id, account_id, status)
INSERT INTO cmp.customer_status_history (customer_id, account_id, from_status, to_status,
		changed_by, db_role, reason)
SELECT customer_id, account_id, (ARRAY['ACTIVE', 'SUSPENDED'])[:par + 1], status, 200002,
	   current_user, 'benchmark'
  FROM u;
