#!/usr/bin/env bash
# test/suites/soak.sh -- a bounded soak: RO_SOAK_CLIENTS clients (default
# 16) for RO_SOAK_SECONDS (default 30), half through pgbouncer in
# transaction mode and half directly, call every changing function of cmp
# and read the SIM grid, the customer overview and counts, as several kinds
# of actor at once, over the same customers, customer users and SIMs.  It
# proves that under such load
#
#   - every call ends in success or in a documented refusal (SPEC §8, the
#     README's error table: 42501, P0002, 22004, 22023, 23505, 55000): no
#     internal error, no deadlock (40P01), no lost connection, no timeout,
#     no constraint of the tables (23503, 23514) reached through a function;
#   - no read shows a row outside the actor's account or customers;
#   - cmp.audit_log holds exactly one row per call that committed and
#     changed something, per operation and per actor, and the SIM counts in
#     the assign/unassign rows add up to what the calls returned;
#   - afterwards the rules hold (checked as superuser from the tables):
#     every SIM on a customer of its own account and none on a TERMINATED
#     one; each SIM's assignment history a chain whose last row names its
#     customer; each customer's status history a chain from NULL to its
#     status; customer numbers unique per account and never beyond the
#     account's counter; every ACTIVE/SUSPENDED customer with an admin user
#     assigned to it; every CUSTOMER user on at least one customer; every
#     user-customer pair within one account.
#
#   1. A database of our own; through the functions, as the system actor and
#      the account admins: a RESELLER and a STANDARD account, CSP users,
#      ACCOUNT admins and non-admins, ACTIVE and DRAFT customers with their
#      admin users, customer users (admins or not) on several customers,
#      3,000 SIMs (ICCIDs from test/fixtures/luhn.sql), some assigned.  A
#      login role that may only call cmp.set_actor (session actors off, a
#      statement timeout so that a hang shows as an error).
#   2. pgbouncer (pool_mode = transaction, pool_size 4) on a unix socket.
#   3. soak/soak.js (node-postgres from examples/node, the versions of its
#      package-lock.json): the clients; it prints the outcomes per operation
#      and SQLSTATE and checks what the clients alone can tell.
#   4. The audit log against the clients' count of effective calls, and the
#      invariants, as superuser.
#
# Run by tools/test.sh (as root, PGHOST = the cluster's unix socket dir);
# prints `ok - ...` / `not ok - ...` and ends with `N passed, M failed`.
# RO_SOAK_SEED repeats a run's choices (not its interleaving); RO_KEEP=1
# keeps the database, the role and the work directory for a look.
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"
# shellcheck source=test/suites/lib/pgbouncer.sh
source "$repo/test/suites/lib/pgbouncer.sh"

n_clients=${RO_SOAK_CLIENTS:-16}
seconds=${RO_SOAK_SECONDS:-30}
seed=${RO_SOAK_SEED:-$(($$ % 100000 + 1))}
pool_size=4
db=ro_soak_$$
role=soak_app_$$
started=$(date +%s)

pgbouncer_require
require_node_npm
scratch_workdir ro_soak

# ---------------------------------------------------------------------------
# 1. Database, fixture, application role
# ---------------------------------------------------------------------------

scratch_db_and_role
ok "database $db with the extension, login role $role"

# Everything through the functions: accounts, CSP and ACCOUNT users and SIMs
# as the system actor; customers, customer users and assignments as the
# account admins.  pg_temp.iccid(n): '8949' || n in 14 digits || Luhn digit.
# The SIMs of account A are n = 1..2000, of account B 2001..3000; SIMs that
# the clients may provision later: 40 blocks of 5 per account, from 500000
# (A) and 600000 (B).  The client's configuration is written as JSON.
if ! psql -X -q -v ON_ERROR_STOP=1 -v luhn="$repo/test/fixtures/luhn.sql" -v cfg="$work/config.json" \
	-d "$db" >"$work/fixture.out" 2>&1 <<'SQL'; then
\i :luhn
CREATE FUNCTION pg_temp.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;

SELECT cmp.create_account(account_number => 'SK-A', name => 'Soak Reseller A', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'PDF', customer_billing_cycle_day => 1) AS acct_a \gset
SELECT cmp.create_account(account_number => 'SK-B', name => 'Soak Standard B') AS acct_b \gset
SELECT cmp.create_user(login => 'sk.csp', email => 'csp@soak.example', context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'sk.csp2', email => 'csp2@soak.example', context_level => 'CSP') AS csp2 \gset
SELECT cmp.create_user(login => 'sk.a.admin1', email => 'admin1@a.soak.example', context_level => 'ACCOUNT',
	account_id => :acct_a, is_admin => true) AS a_admin1 \gset
SELECT cmp.create_user(login => 'sk.a.admin2', email => 'admin2@a.soak.example', context_level => 'ACCOUNT',
	account_id => :acct_a, is_admin => true) AS a_admin2 \gset
SELECT cmp.create_user(login => 'sk.a.ops1', email => 'ops1@a.soak.example', context_level => 'ACCOUNT',
	account_id => :acct_a) AS a_ops1 \gset
SELECT cmp.create_user(login => 'sk.a.ops2', email => 'ops2@a.soak.example', context_level => 'ACCOUNT',
	account_id => :acct_a) AS a_ops2 \gset
SELECT cmp.create_user(login => 'sk.b.admin1', email => 'admin1@b.soak.example', context_level => 'ACCOUNT',
	account_id => :acct_b, is_admin => true) AS b_admin1 \gset
SELECT cmp.create_user(login => 'sk.b.ops1', email => 'ops1@b.soak.example', context_level => 'ACCOUNT',
	account_id => :acct_b) AS b_ops1 \gset
SELECT cmp.create_user(login => 'sk.b.ops2', email => 'ops2@b.soak.example', context_level => 'ACCOUNT',
	account_id => :acct_b) AS b_ops2 \gset
SELECT cmp.provision_sims(account_id => :acct_a,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(1, 2000) g)) AS ignored \gset
SELECT cmp.provision_sims(account_id => :acct_b,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(2001, 3000) g)) AS ignored \gset

-- account A: 8 ACTIVE customers with their admins, 3 DRAFT; 8 customer
-- users on 2 or 3 customers each, every third an admin; 100 SIMs on each
-- ACTIVE customer.  Account B: 4 ACTIVE, 2 DRAFT, 4 customer users.
BEGIN;
SELECT cmp.set_actor(:a_admin1) AS ignored \gset
CREATE TEMP TABLE cust_a AS
SELECT i, cmp.create_customer(account_id => :acct_a, name => 'Soak A Fixture ' || i,
	status => CASE WHEN i <= 8 THEN 'ACTIVE' ELSE 'DRAFT' END,
	admin_login => CASE WHEN i <= 8 THEN 'sk.a.cadmin' || i END,
	admin_email => CASE WHEN i <= 8 THEN 'cadmin' || i || '@a.soak.example' END) AS id
  FROM generate_series(1, 11) i;
SELECT count(*) AS ignored FROM (
	SELECT cmp.create_customer_user(
		customer_ids => array(SELECT id FROM cust_a
		                       WHERE i IN (u, u % 11 + 1) OR (u % 2 = 0 AND i = (u + 3) % 11 + 1)),
		login => 'sk.a.cu' || u, email => 'cu' || u || '@a.soak.example', is_admin => u % 3 = 0)
	  FROM generate_series(1, 8) u) s \gset
SELECT sum(cmp.assign_sims(customer_id => c.id,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series((c.i - 1) * 100 + 1, c.i * 100) g))) AS ignored
  FROM cust_a c WHERE c.i <= 8 \gset
COMMIT;

BEGIN;
SELECT cmp.set_actor(:b_admin1) AS ignored \gset
CREATE TEMP TABLE cust_b AS
SELECT i, cmp.create_customer(account_id => :acct_b, name => 'Soak B Fixture ' || i,
	status => CASE WHEN i <= 4 THEN 'ACTIVE' ELSE 'DRAFT' END,
	admin_login => CASE WHEN i <= 4 THEN 'sk.b.cadmin' || i END,
	admin_email => CASE WHEN i <= 4 THEN 'cadmin' || i || '@b.soak.example' END) AS id
  FROM generate_series(1, 6) i;
SELECT count(*) AS ignored FROM (
	SELECT cmp.create_customer_user(
		customer_ids => array(SELECT id FROM cust_b WHERE i IN (u, u % 6 + 1)),
		login => 'sk.b.cu' || u, email => 'cu' || u || '@b.soak.example', is_admin => u = 2)
	  FROM generate_series(1, 4) u) s \gset
SELECT sum(cmp.assign_sims(customer_id => c.id,
	iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(2000 + (c.i - 1) * 100 + 1, 2000 + c.i * 100) g))) AS ignored
  FROM cust_b c WHERE c.i <= 4 \gset
COMMIT;

\pset format unaligned
\pset tuples_only on
\o :cfg
SELECT json_build_object(
	'csp', :csp, 'csp_lockable', :csp2,
	'accounts', json_build_array(
		json_build_object('key', 'A', 'id', :acct_a, 'reseller', true,
			'admins', json_build_array(:a_admin1, :a_admin2), 'users', json_build_array(:a_ops1),
			'lockable', json_build_array(:a_ops2),
			'sims', (SELECT json_agg(iccid ORDER BY iccid) FROM cmp.sim_card WHERE account_id = :acct_a),
			'provision', (SELECT json_agg(b ORDER BY k) FROM (
				SELECT k, json_agg(pg_temp.iccid(500000 + k * 5 + j) ORDER BY j) AS b
				  FROM generate_series(0, 39) k, generate_series(0, 4) j GROUP BY k) x)),
		json_build_object('key', 'B', 'id', :acct_b, 'reseller', false,
			'admins', json_build_array(:b_admin1), 'users', json_build_array(:b_ops1),
			'lockable', json_build_array(:b_ops2),
			'sims', (SELECT json_agg(iccid ORDER BY iccid) FROM cmp.sim_card WHERE account_id = :acct_b),
			'provision', (SELECT json_agg(b ORDER BY k) FROM (
				SELECT k, json_agg(pg_temp.iccid(600000 + k * 5 + j) ORDER BY j) AS b
				  FROM generate_series(0, 39) k, generate_series(0, 4) j GROUP BY k) x))));
\o
SQL
	not_ok "fixture loaded through the extension's functions" "$(tail -n 20 "$work/fixture.out")"
	finish
fi
ok "fixture loaded through create_account, create_user, provision_sims, create_customer, create_customer_user, assign_sims"
check_eq "fixture: 2 accounts, 17 customers (12 ACTIVE), 33 users, 3000 valid SIMs (1200 on customers)" \
	"2 17 12 33 3000 1200" \
	"$(q "SELECT (SELECT count(*) FROM cmp.account) || ' ' || (SELECT count(*) FROM cmp.customer) || ' ' ||
	             (SELECT count(*) FROM cmp.customer WHERE status = 'ACTIVE') || ' ' ||
	             (SELECT count(*) FROM cmp.app_user_data) || ' ' ||
	             (SELECT count(*) FROM cmp.sim_card WHERE cmp.iccid_is_valid(iccid)) || ' ' ||
	             (SELECT count(customer_id) FROM cmp.sim_card)" || cat "$work/err")"

# The application's role: set_actor only; no session actors behind the
# pooler (README, pgbouncer notes); a statement that waits 20 s is a hang.
if psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null 2>"$work/err" <<SQL; then
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO $role;
ALTER ROLE $role IN DATABASE $db SET cmp.allow_session_actor = off;
ALTER ROLE $role IN DATABASE $db SET statement_timeout = '20s';
SQL
	ok "GRANT EXECUTE ON FUNCTION cmp.set_actor TO $role; session actors off and statement_timeout 20s for it"
else
	not_ok "grants and settings of $role" "$(cat "$work/err")"
	finish
fi

# What the audit log and the histories hold before the soak.
read -r audit_base sim_hist_base status_hist_base <<<"$(q "SELECT coalesce(max(event_id), 0) FROM cmp.audit_log" || echo x) \
	$(q "SELECT coalesce(max(history_id), 0) FROM cmp.sim_assignment_history_data" || echo x) \
	$(q "SELECT coalesce(max(history_id), 0) FROM cmp.customer_status_history" || echo x)"
postmaster_started=$(q "SELECT pg_postmaster_start_time()")

# ---------------------------------------------------------------------------
# 2. pgbouncer
# ---------------------------------------------------------------------------

pgbouncer_start soak "$pool_size" "max_client_conn = 200" "min_pool_size = 0" "reserve_pool_size = 0" \
	"server_check_delay = 30" "log_connections = 0" "log_disconnections = 0"
ok "pgbouncer $("$pgbouncer_bin" --version | head -n1 | awk '{ print $2 }') started: pool_mode = transaction, pool_size $pool_size"

# ---------------------------------------------------------------------------
# 3. The clients
# ---------------------------------------------------------------------------

# node-postgres as examples/node locks it: its node_modules when installed
# there at the locked version, else `npm ci` of its package-lock.json here.
want_pg=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/pg"].version)' \
	"$repo/examples/node/package-lock.json" 2>/dev/null)
have_pg=$(node -e 'console.log(require(process.argv[1]).version)' \
	"$repo/examples/node/node_modules/pg/package.json" 2>/dev/null)
if [[ -n $want_pg && $have_pg == "$want_pg" ]]; then
	modules=$repo/examples/node/node_modules
	ok "node-postgres $have_pg from examples/node/node_modules (the version of its package-lock.json)"
else
	scratch_npm_ci "$repo/examples/node" "$work/npm"
	modules=$work/npm/node_modules
	ok "node-postgres $want_pg installed by npm ci from examples/node/package-lock.json"
fi

echo "# $n_clients clients for $seconds s, seed $seed (RO_SOAK_SEED)"
superuser=$PGUSER # the monitor's; the clients log in as $role
NODE_PATH=$modules PGDATABASE=$db SOAK_MONITOR_USER=$superuser PGUSER=$role \
	SOAK_BOUNCER_HOST=$work SOAK_BOUNCER_PORT=6432 SOAK_BOUNCER_DB=soak SOAK_POOL_SIZE=$pool_size \
	SOAK_CONFIG=$work/config.json SOAK_OUT=$work SOAK_CLIENTS=$n_clients SOAK_SECONDS=$seconds SOAK_SEED=$seed \
	timeout $((seconds + 120)) node "$repo/test/suites/soak/soak.js" >"$work/clients.out" 2>"$work/clients.err" &
node_pid=$!
wait "$node_pid"
node_rc=$?
cat "$work/clients.out"
passed=$((passed + $(grep -c '^ok - ' "$work/clients.out")))
failed=$((failed + $(grep -c '^not ok - ' "$work/clients.out")))
if ((node_rc == 0)) && [[ -s $work/effective.tsv ]]; then
	ok "the clients ran for $seconds s and reported"
else
	not_ok "the clients ran to the end (exit status $node_rc$( ((node_rc == 124)) && echo ', timed out'))" \
		"$(tail -n 10 "$work/clients.err")"
	finish
fi

check_eq "the server did not restart during the soak (pg_postmaster_start_time)" "$postmaster_started" \
	"$(q "SELECT pg_postmaster_start_time()" || cat "$work/err")"

# ---------------------------------------------------------------------------
# 4. Audit rows against effective calls, and the invariants
# ---------------------------------------------------------------------------

# One line per audit operation: audit rows since the fixture, and the
# clients' effective calls.
audit_sql="
CREATE TEMP TABLE eff (operation text, actor bigint, calls bigint, moved bigint);
\\copy eff FROM '$work/effective.tsv'
CREATE TEMP TABLE aud AS SELECT * FROM cmp.audit_log WHERE event_id > $audit_base;
"
psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -d "$db" >"$work/audit.out" 2>"$work/err" <<SQL
$audit_sql
SELECT 'op', o, (SELECT count(*) FROM aud WHERE operation = o), (SELECT coalesce(sum(calls), 0) FROM eff WHERE operation = o)
  FROM unnest(ARRAY['create_account', 'create_user', 'provision_sims', 'create_customer', 'update_customer',
                    'delete_customer', 'set_customer_status', 'create_customer_user', 'assign_user_to_customers',
                    'unassign_user_from_customers', 'set_user_status', 'assign_sims', 'unassign_sims']) WITH ORDINALITY AS t(o, i)
 ORDER BY i;
SELECT 'other', count(*) FROM aud
 WHERE operation NOT IN ('create_account', 'create_user', 'provision_sims', 'create_customer', 'update_customer',
                         'delete_customer', 'set_customer_status', 'create_customer_user', 'assign_user_to_customers',
                         'unassign_user_from_customers', 'set_user_status', 'assign_sims', 'unassign_sims');
SELECT 'pairs', count(*), coalesce(string_agg(operation || ' by ' || actor || ': ' || a || ' audit rows, ' || c || ' effective calls', '; '), '')
  FROM (SELECT coalesce(a.operation, e.operation) AS operation, coalesce(a.actor, e.actor) AS actor,
               coalesce(a.n, 0) AS a, coalesce(e.n, 0) AS c
          FROM (SELECT operation, actor_user_id AS actor, count(*) AS n FROM aud GROUP BY 1, 2) a
          FULL JOIN (SELECT operation, actor, sum(calls) AS n FROM eff GROUP BY 1, 2) e
            ON e.operation = a.operation AND e.actor = a.actor) x
 WHERE a <> c;
SELECT 'pairs_total', count(*) FROM (SELECT DISTINCT operation, actor_user_id FROM aud) x;
SELECT 'moved', (SELECT coalesce(sum((new_value ->> 'assigned')::bigint), 0) FROM aud WHERE operation = 'assign_sims'),
                (SELECT coalesce(sum(moved), 0) FROM eff WHERE operation = 'assign_sims'),
                (SELECT coalesce(sum((new_value ->> 'unassigned')::bigint), 0) FROM aud WHERE operation = 'unassign_sims'),
                (SELECT coalesce(sum(moved), 0) FROM eff WHERE operation = 'unassign_sims');
SELECT 'roles', count(*) FILTER (WHERE db_role <> '$role' OR actor_user_id IS NULL), count(*) FROM aud;
SQL
if [[ -s $work/err ]]; then
	not_ok "the audit log read as superuser" "$(cat "$work/err")"
else
	while read -r tag rest; do
		read -r a b c d <<<"$rest"
		case $tag in
		op)
			check_eq "audit: $a: one row per effective call ($c)" "$c" "$b"
			;;
		other)
			check_eq "audit: no rows of other operations" "0" "$a"
			;;
		pairs)
			check_eq "audit: per operation and actor, rows = effective calls" "0" "$a" "${rest#* }"
			;;
		pairs_total)
			echo "# audit: $a (operation, actor) pairs"
			;;
		moved)
			check_eq "audit: SIMs counted in the assign_sims / unassign_sims rows = what the calls returned" \
				"$b $d" "$a $c"
			;;
		roles)
			check_eq "audit: every row of the soak names its CMP user and the database role $role ($b rows)" "0" "$a"
			;;
		esac
	done <"$work/audit.out"
fi

check_no_rows "every SIM on a customer is on a customer of its own account" \
	"SELECT s.iccid || ' of account ' || s.account_id || ' on customer ' || s.customer_id || ' of ' || coalesce(c.account_id::text, 'no account')
	   FROM cmp.sim_card s LEFT JOIN cmp.customer c ON c.customer_id = s.customer_id
	  WHERE s.customer_id IS NOT NULL AND c.account_id IS DISTINCT FROM s.account_id"
check_no_rows "no SIM on a TERMINATED customer" \
	"SELECT s.iccid || ' on ' || s.customer_id FROM cmp.sim_card s JOIN cmp.customer c USING (customer_id)
	  WHERE c.status = 'TERMINATED'"
check_no_rows "each SIM's last row of sim_assignment_history_data names its current customer (or, with no rows, it has none)" \
	"SELECT s.iccid || ': on ' || coalesce(s.customer_id::text, 'none') || ', history says ' || coalesce(h.to_customer_id::text, 'none')
	   FROM cmp.sim_card s
	   LEFT JOIN LATERAL (SELECT to_customer_id FROM cmp.sim_assignment_history_data x
	                       WHERE x.iccid = s.iccid ORDER BY history_id DESC LIMIT 1) h ON true
	  WHERE h.to_customer_id IS DISTINCT FROM s.customer_id"
check_no_rows "each SIM's assignment history is a chain (from = the previous row's to, the first from the account)" \
	"SELECT iccid || ' row ' || history_id || ': from ' || coalesce(from_customer_id::text, 'none') || ', previous to ' || coalesce(prev::text, 'none')
	   FROM (SELECT iccid, history_id, from_customer_id,
	                lag(to_customer_id) OVER (PARTITION BY iccid ORDER BY history_id) AS prev
	           FROM cmp.sim_assignment_history_data) h
	  WHERE from_customer_id IS DISTINCT FROM prev"
check_no_rows "each customer's status history is a chain: first from NULL, each from = the previous to" \
	"SELECT customer_id || ' row ' || history_id || ': from ' || coalesce(from_status, 'NULL') || ', previous to ' || coalesce(prev, 'NULL')
	   FROM (SELECT customer_id, history_id, from_status,
	                lag(to_status) OVER (PARTITION BY customer_id ORDER BY history_id) AS prev
	           FROM cmp.customer_status_history) h
	  WHERE from_status IS DISTINCT FROM prev"
check_no_rows "each customer's last status history row is its current status" \
	"SELECT c.customer_id || ' is ' || c.status || ', history ends with ' || coalesce(h.to_status, 'no row')
	   FROM cmp.customer c
	   LEFT JOIN LATERAL (SELECT to_status FROM cmp.customer_status_history x
	                       WHERE x.customer_id = c.customer_id ORDER BY history_id DESC LIMIT 1) h ON true
	  WHERE h.to_status IS DISTINCT FROM c.status"
check_no_rows "(account_id, customer_number) is unique, and no number is beyond the account's last_customer_number" \
	"SELECT c.account_id || '/' || c.customer_number || ' x' || count(*)
	   FROM cmp.customer c JOIN cmp.account a USING (account_id)
	  GROUP BY c.account_id, c.customer_number, a.last_customer_number
	 HAVING count(*) > 1 OR c.customer_number > a.last_customer_number"
check_no_rows "every ACTIVE or SUSPENDED customer has an admin user" \
	"SELECT customer_id || ' ' || status FROM cmp.customer
	  WHERE status IN ('ACTIVE', 'SUSPENDED') AND admin_user_id IS NULL"
check_no_rows "the admin user of every ACTIVE or SUSPENDED customer is a CUSTOMER admin of its account assigned to it" \
	"SELECT c.customer_id || ' ' || c.status || ': admin ' || c.admin_user_id || coalesce(' ' || u.context_level || ' admin=' || u.is_admin, ' missing')
	   FROM cmp.customer c LEFT JOIN cmp.app_user_data u ON u.user_id = c.admin_user_id
	  WHERE c.status IN ('ACTIVE', 'SUSPENDED')
	    AND (u.user_id IS NULL OR u.context_level <> 'CUSTOMER' OR NOT u.is_admin OR u.account_id <> c.account_id
	         OR NOT EXISTS (SELECT 1 FROM cmp.user_customer uc WHERE uc.user_id = u.user_id AND uc.customer_id = c.customer_id))"
check_no_rows "every CUSTOMER user is assigned to at least one customer" \
	"SELECT u.user_id || ' ' || u.login FROM cmp.app_user_data u
	  WHERE u.context_level = 'CUSTOMER' AND NOT EXISTS (SELECT 1 FROM cmp.user_customer uc WHERE uc.user_id = u.user_id)"
check_no_rows "every user-customer pair is within one account (user, customer and pair)" \
	"SELECT uc.user_id || '-' || uc.customer_id || ': pair ' || uc.account_id || ', user ' || coalesce(u.account_id::text, '?') || ', customer ' || coalesce(c.account_id::text, '?')
	   FROM cmp.user_customer uc
	   LEFT JOIN cmp.app_user_data u ON u.user_id = uc.user_id
	   LEFT JOIN cmp.customer c ON c.customer_id = uc.customer_id
	  WHERE u.account_id IS DISTINCT FROM uc.account_id OR c.account_id IS DISTINCT FROM uc.account_id
	     OR u.context_level IS DISTINCT FROM 'CUSTOMER'"

# How much the soak changed, for the record.
echo "# after the soak: $(q "SELECT (SELECT count(*) FROM cmp.account) || ' accounts, ' ||
	(SELECT string_agg(n || ' ' || status, ', ' ORDER BY status) FROM (SELECT status, count(*) AS n FROM cmp.customer GROUP BY status) s) ||
	' customers, ' || (SELECT count(*) FROM cmp.app_user_data) || ' users, ' ||
	(SELECT count(*) FROM cmp.sim_card) || ' SIMs (' || (SELECT count(customer_id) FROM cmp.sim_card) || ' on customers), ' ||
	(SELECT count(*) FROM cmp.audit_log WHERE event_id > $audit_base) || ' audit rows, ' ||
	(SELECT count(*) FROM cmp.sim_assignment_history_data WHERE history_id > $sim_hist_base) || ' SIM moves, ' ||
	(SELECT count(*) FROM cmp.customer_status_history WHERE history_id > $status_hist_base) || ' status changes'")"

finish
