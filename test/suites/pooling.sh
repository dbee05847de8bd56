#!/usr/bin/env bash
# test/suites/pooling.sh -- SPEC §10 (Pooling) and §4: many clients through
# pgbouncer in transaction mode, each acting as its own CMP user with
# `BEGIN; SELECT cmp.set_actor(id); ...; COMMIT;`, never see each other's
# rows, and a transaction that sets no actor sees nothing, even on a server
# connection another actor has just used.
#
#   1. A database of our own, data loaded through the functions: two
#      accounts, customers ACTIVE, SUSPENDED and DRAFT, customer users (some
#      on several customers), SIMs on customers and on the accounts, CSP and
#      ACCOUNT users; a login role pool_app allowed to call cmp.set_actor;
#      an HS256 identity key for section 6.
#   2. What each user must see is computed as superuser from the tables and
#      the rules of SPEC §5 (superusers bypass RLS), and checked once per
#      user on a direct, unpooled connection.
#   3. pgbouncer (pool_mode = transaction, pool_size 4, no reset query
#      between transactions) and 24 concurrent clients (CSP, ACCOUNT and
#      CUSTOMER users), 50 transactions each.  Every transaction's result is
#      compared with what its own user (or nobody) must see.  Transaction
#      kinds: plain; no set_actor (explicit and autocommit); set_actor
#      rolled back to a savepoint; another actor first, then its own;
#      parallel plans; ending with ROLLBACK; ending with an error.
#   4. Session actors (`is_local => false`, documented as wrong behind a
#      transaction pooler): with one server connection, a control shows it
#      does outlive the client without a reset query; with
#      server_reset_query = DISCARD ALL and server_reset_query_always = 1 the
#      next client on the same server connection sees nothing.
#   5. With `cmp.allow_session_actor = off` for the pool's role (and no
#      reset query), a session actor is refused (42501), the next client
#      sees nothing, and transaction-local actors work.
#   6. Verified identities (SPEC §12): a second login role pool_tok allowed
#      to call cmp.set_actor_token only, an HS256 identity key added by the
#      superuser, one signed token per user made here with openssl, and each
#      user's token checked on a direct connection.  Then phase 3 again
#      through pgbouncer as pool_tok, 25 transactions per client, with
#      `SELECT cmp.set_actor_token('<token>')` in place of set_actor and a
#      forged token (one signature character changed) in a savepoint as one
#      more kind; every transaction is checked the same way.  As pool_tok,
#      set_actor, set_actor_by_login, SET [LOCAL] cmp.actor and set_config
#      are refused (42501), and so is a forged token, each time on the
#      server connection the CSP user's token had just used, and the read
#      after the refusal sees nothing.
#
# Run by tools/test.sh (as root, PGHOST = the cluster's unix socket dir);
# prints `ok - ...` / `not ok - ...` and ends with `N passed, M failed`,
# where every client transaction is one check.  Only unix sockets are used.
set -uo pipefail
export LC_ALL=C
export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh" # as_pg: pgbouncer refuses to run as root

pgbouncer_bin=${RO_PGBOUNCER:-/usr/sbin/pgbouncer}
db=ro_pool_$$
role=pool_app
tok_role=pool_tok
n_clients=${RO_POOL_CLIENTS:-24}
n_tx=${RO_POOL_TX:-50}
n_tx_tok=${RO_POOL_TOKEN_TX:-25}
key_id=pool-hs256-1
issuer=https://idp.pool.example
pool_size=4
client_timeout=100 # seconds; a hung client is killed and its checks fail
started=$(date +%s)

passed=0
failed=0
work=""
bouncer_dirs=()
client_pids=()
role_created=0
tok_role_created=0

# shellcheck source=test/suites/lib/report.sh
source "$repo/test/suites/lib/report.sh"

bouncer_stop() { # DIR
	local dir=$1 pid
	[[ -f $dir/pgbouncer.pid ]] || return 0
	pid=$(cat "$dir/pgbouncer.pid" 2>/dev/null)
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$dir/pgbouncer.pid"
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local pid dir
	for pid in "${client_pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for dir in "${bouncer_dirs[@]}"; do
		bouncer_stop "$dir"
	done
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
	if ((role_created)); then
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	fi
	if ((tok_role_created)); then
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $tok_role" >/dev/null 2>&1
	fi
	[[ -n $work && -d $work ]] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish() {
	echo
	echo "runtime: $(($(date +%s) - started)) s"
	echo "$passed passed, $failed failed"
	((failed == 0)) || exit 1
	exit 0
}

# Never anything but this machine: a socket directory or a loopback host.
case $PGHOST in
	/*) ;;
	localhost | 127.0.0.1 | ::1) ;;
	*)
		not_ok "PGHOST is a unix socket directory or a loopback address" "PGHOST=$PGHOST"
		finish
		;;
esac

if [[ ! -x $pgbouncer_bin ]]; then
	not_ok "pgbouncer is installed ($pgbouncer_bin; tools/setup.sh installs it)"
	finish
fi

# /tmp keeps socket paths short; owned by the OS user pgbouncer runs as.
work=$(mktemp -d /tmp/ro_pool.XXXXXX)
if [[ $(id -u) -eq 0 ]]; then
	chown "$RO_PG_OSUSER": "$work"
fi

# q SQL -- one value from our database, as superuser, directly.
q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1" 2>"$work/err"
}

# ---------------------------------------------------------------------------
# 1. Database, data, application role
# ---------------------------------------------------------------------------

if psql -X -q -At -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'" 2>/dev/null | grep -q 1; then
	not_ok "role $role does not exist yet (left over by another run?)"
	finish
fi

if createdb "$db" 2>"$work/err" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION reseller_onboarding' 2>>"$work/err" &&
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $role LOGIN" 2>>"$work/err"; then
	role_created=1
	ok "database $db with the extension, login role $role"
else
	not_ok "database $db with the extension, login role $role" "$(cat "$work/err")"
	finish
fi

# Accounts, CSP and ACCOUNT users and SIMs by the system actor (superuser
# with no actor); customers, customer users and SIM assignment by each
# account's admin, as an application would.  ICCIDs: 19 digits, 89 + 16
# digits + the Luhn check digit, computed here.
if psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$work/load.out" 2>"$work/load.err" <<'SQL'
CREATE TEMP TABLE iccids AS
WITH p AS (
	SELECT a.acct, n, '8949' || lpad(a.k::text, 2, '0') || lpad(n::text, 12, '0') AS payload
	  FROM (VALUES ('A', 1, 30), ('B', 2, 25)) AS a (acct, k, total),
	       generate_series(1, a.total) AS n)
SELECT acct, n, payload || ((10 - (
		SELECT sum(CASE WHEN (19 - i) % 2 = 1
		                THEN (substr(payload, i, 1)::int * 2) / 10 + (substr(payload, i, 1)::int * 2) % 10
		                ELSE substr(payload, i, 1)::int END)
		  FROM generate_series(1, 18) AS i) % 10) % 10)::text AS iccid
  FROM p;

SELECT cmp.create_account(account_number => 'PL-A', name => 'Pool Reseller A',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 1) AS acct_a \gset
SELECT cmp.create_account(account_number => 'PL-B', name => 'Pool Standard B') AS acct_b \gset
SELECT cmp.create_user(login => 'pl.csp1', email => 'pl.csp1@example.com', context_level => 'CSP') AS csp1 \gset
SELECT cmp.create_user(login => 'pl.csp2', email => 'pl.csp2@example.com', context_level => 'CSP') AS csp2 \gset
SELECT cmp.create_user(login => 'pl.a.admin', email => 'pl.a.admin@example.com', context_level => 'ACCOUNT',
	account_id => :acct_a, is_admin => true) AS a_admin \gset
SELECT cmp.create_user(login => 'pl.a.ops', email => 'pl.a.ops@example.com', context_level => 'ACCOUNT',
	account_id => :acct_a) AS a_ops \gset
SELECT cmp.create_user(login => 'pl.b.admin', email => 'pl.b.admin@example.com', context_level => 'ACCOUNT',
	account_id => :acct_b, is_admin => true) AS b_admin \gset
SELECT cmp.provision_sims(account_id => :acct_a,
	iccids => (SELECT array_agg(iccid ORDER BY n) FROM iccids WHERE acct = 'A')) AS ignored \gset
SELECT cmp.provision_sims(account_id => :acct_b,
	iccids => (SELECT array_agg(iccid ORDER BY n) FROM iccids WHERE acct = 'B')) AS ignored \gset

BEGIN;
SELECT cmp.set_actor(:a_admin) AS ignored \gset
SELECT cmp.create_customer(account_id => :acct_a, name => 'A1 Logistics', status => 'ACTIVE',
	admin_login => 'pl.a1.admin', admin_email => 'admin@a1.example') AS c_a1 \gset
SELECT cmp.create_customer(account_id => :acct_a, name => 'A2 Farming', status => 'ACTIVE',
	admin_login => 'pl.a2.admin', admin_email => 'admin@a2.example') AS c_a2 \gset
SELECT cmp.create_customer(account_id => :acct_a, name => 'A3 Metering', status => 'ACTIVE',
	admin_login => 'pl.a3.admin', admin_email => 'admin@a3.example') AS c_a3 \gset
SELECT cmp.create_customer(account_id => :acct_a, name => 'A4 Vending', status => 'ACTIVE',
	admin_login => 'pl.a4.admin', admin_email => 'admin@a4.example') AS c_a4 \gset
SELECT cmp.create_customer(account_id => :acct_a, name => 'A5 Prospect') AS c_a5 \gset
SELECT cmp.assign_sims(customer_id => :c_a1,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'A' AND n BETWEEN 1 AND 3)) AS ignored \gset
SELECT cmp.assign_sims(customer_id => :c_a2,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'A' AND n BETWEEN 4 AND 7)) AS ignored \gset
SELECT cmp.assign_sims(customer_id => :c_a3,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'A' AND n BETWEEN 8 AND 12)) AS ignored \gset
SELECT cmp.assign_sims(customer_id => :c_a4,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'A' AND n BETWEEN 13 AND 14)) AS ignored \gset
SELECT cmp.assign_sims(customer_id => :c_a5,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'A' AND n = 15)) AS ignored \gset
SELECT cmp.set_customer_status(customer_id => :c_a4, status => 'SUSPENDED', reason => 'unpaid') AS ignored \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c_a1, :c_a2]::bigint[], login => 'pl.a.multi',
	email => 'multi@a.example') AS ignored \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c_a3, :c_a4, :c_a5]::bigint[], login => 'pl.a.wide',
	email => 'wide@a.example') AS ignored \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c_a5]::bigint[], login => 'pl.a.draftonly',
	email => 'draftonly@a.example') AS ignored \gset
COMMIT;

BEGIN;
SELECT cmp.set_actor(:b_admin) AS ignored \gset
SELECT cmp.create_customer(account_id => :acct_b, name => 'B1 Transport', status => 'ACTIVE',
	admin_login => 'pl.b1.admin', admin_email => 'admin@b1.example') AS c_b1 \gset
SELECT cmp.create_customer(account_id => :acct_b, name => 'B2 Security', status => 'ACTIVE',
	admin_login => 'pl.b2.admin', admin_email => 'admin@b2.example') AS c_b2 \gset
SELECT cmp.create_customer(account_id => :acct_b, name => 'B3 Energy', status => 'ACTIVE',
	admin_login => 'pl.b3.admin', admin_email => 'admin@b3.example') AS c_b3 \gset
SELECT cmp.create_customer(account_id => :acct_b, name => 'B4 Prospect') AS c_b4 \gset
SELECT cmp.assign_sims(customer_id => :c_b1,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'B' AND n BETWEEN 1 AND 6)) AS ignored \gset
SELECT cmp.assign_sims(customer_id => :c_b2,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'B' AND n = 7)) AS ignored \gset
SELECT cmp.assign_sims(customer_id => :c_b3,
	iccids => (SELECT array_agg(iccid) FROM iccids WHERE acct = 'B' AND n BETWEEN 8 AND 9)) AS ignored \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c_b1, :c_b2, :c_b3]::bigint[], login => 'pl.b.multi',
	email => 'multi@b.example') AS ignored \gset
COMMIT;
SQL
then
	ok "data loaded through create_account, create_user, provision_sims, create_customer, assign_sims, set_customer_status, create_customer_user"
else
	not_ok "data loaded through the extension's functions" "$(cat "$work/load.err")"
	finish
fi

check_eq "all 55 ICCIDs are valid (cmp.iccid_is_valid) and 19 digits long" "55" \
	"$(q "SELECT count(*) FROM cmp.sim_card WHERE cmp.iccid_is_valid(iccid) AND length(iccid) = 19" ||
		cat "$work/err")"
check_eq "customers per status: 6 ACTIVE, 2 DRAFT, 1 SUSPENDED" "ACTIVE=6,DRAFT=2,SUSPENDED=1" \
	"$(q "SELECT string_agg(status || '=' || n, ',' ORDER BY status)
	        FROM (SELECT status, count(*) AS n FROM cmp.customer GROUP BY status) s" || cat "$work/err")"
check_eq "SIMs on customers / on the accounts" "24/31" \
	"$(q "SELECT count(customer_id) || '/' || count(*) FILTER (WHERE customer_id IS NULL) FROM cmp.sim_card" ||
		cat "$work/err")"

if psql -X -q -v ON_ERROR_STOP=1 -d "$db" 2>"$work/err" >/dev/null \
	-c "GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO $role"; then
	ok "GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO $role"
else
	not_ok "GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO $role" "$(cat "$work/err")"
	finish
fi
check_eq "$role is an ordinary role (no superuser, no BYPASSRLS), mapped to no CMP user" "f f 0" \
	"$(q "SELECT r.rolsuper || ' ' || r.rolbypassrls || ' ' ||
	             (SELECT count(*) FROM cmp.app_user u WHERE u.db_role = r.rolname)
	        FROM pg_roles r WHERE r.rolname = '$role'" | sed 's/true/t/g; s/false/f/g' || cat "$work/err")"

# base64url without padding (RFC 4648 §5)
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# The identity provider's HS256 secret for section 6: 32 random bytes,
# registered by the superuser (the system actor) as base64url.  Added here,
# before the expected sets are computed: its audit row is one more that CSP
# users see.
openssl rand 32 >"$work/secret"
secret_hex=$(od -An -tx1 -v "$work/secret" | tr -d ' \n')
secret_b64=$(b64url <"$work/secret")
if q "SELECT cmp.add_identity_key('$key_id', '$issuer', 'HS256', '$secret_b64', 'cmp')" >/dev/null; then
	ok "HS256 identity key $key_id (issuer $issuer, audience cmp, a 32-byte secret) added by the superuser"
else
	not_ok "HS256 identity key $key_id added by the superuser" "$(cat "$work/err")"
	finish
fi
check_eq "the key as cmp.identity_key shows it: id, issuer, algorithm, audience, not revoked" \
	"$key_id $issuer HS256 cmp f" \
	"$(q "SELECT concat_ws(' ', key_id, issuer, algorithm, audience, revoked_at IS NOT NULL)
	        FROM cmp.identity_key" || cat "$work/err")"

# ---------------------------------------------------------------------------
# 2. What each user must see, from the tables and SPEC §5, as superuser
# ---------------------------------------------------------------------------

# The signature of what the current actor sees: actor id; SIMs of the SIM
# grid (count and md5 of the ICCIDs); customer ids; users (count and md5 of
# the ids); account ids; status history and audit rows; SIMs counted by the
# customer overview.  One line, no spaces.
SIG="concat_ws(';', coalesce(cmp.actor_id()::text, '-'),
 (SELECT 'sims=' || count(*) || ':' || md5(coalesce(string_agg(iccid, ',' ORDER BY iccid), '')) FROM cmp.sim_grid),
 (SELECT 'cust=' || coalesce(string_agg(customer_id::text, ',' ORDER BY customer_id), '') FROM cmp.customer),
 (SELECT 'users=' || count(*) || ':' || md5(coalesce(string_agg(user_id::text, ',' ORDER BY user_id), '')) FROM cmp.app_user),
 (SELECT 'acct=' || coalesce(string_agg(account_id::text, ',' ORDER BY account_id), '') FROM cmp.account),
 (SELECT 'hist=' || count(*) FROM cmp.customer_status_history),
 (SELECT 'audit=' || count(*) FROM cmp.audit_log),
 (SELECT 'ov=' || coalesce(sum(sim_count), 0) FROM cmp.customer_overview))"
SIG=$(tr '\n' ' ' <<<"$SIG")

# The same, computed without RLS from the rules: CSP users see everything;
# ACCOUNT users their account's rows; CUSTOMER users their assigned ACTIVE
# or SUSPENDED customers, those customers' SIMs, history and audit rows, and
# the users assigned to them (no account).  Key "-" is nobody.
if ! q "
WITH u AS (SELECT user_id, context_level AS lvl, account_id FROM cmp.app_user),
vc AS (SELECT u.user_id, c.customer_id FROM u JOIN cmp.customer c
         ON u.lvl = 'CSP' OR (u.lvl = 'ACCOUNT' AND c.account_id = u.account_id)
         OR (u.lvl = 'CUSTOMER' AND c.status IN ('ACTIVE', 'SUSPENDED')
             AND EXISTS (SELECT 1 FROM cmp.user_customer uc
                          WHERE uc.user_id = u.user_id AND uc.customer_id = c.customer_id))),
vs AS (SELECT u.user_id, s.iccid, s.customer_id FROM u JOIN cmp.sim_card s
         ON u.lvl = 'CSP' OR (u.lvl = 'ACCOUNT' AND s.account_id = u.account_id)
         OR (u.lvl = 'CUSTOMER' AND (u.user_id, s.customer_id) IN (SELECT * FROM vc))),
vu AS (SELECT u.user_id, x.user_id AS seen FROM u JOIN cmp.app_user x
         ON u.lvl = 'CSP' OR (u.lvl = 'ACCOUNT' AND x.account_id = u.account_id)
         OR (u.lvl = 'CUSTOMER' AND x.user_id IN (
               SELECT uc.user_id FROM cmp.user_customer uc JOIN vc USING (customer_id)
                WHERE vc.user_id = u.user_id))),
va AS (SELECT u.user_id, a.account_id FROM u JOIN cmp.account a
         ON u.lvl = 'CSP' OR (u.lvl = 'ACCOUNT' AND a.account_id = u.account_id)),
vh AS (SELECT u.user_id FROM u JOIN cmp.customer_status_history h
         ON u.lvl = 'CSP' OR (u.lvl = 'ACCOUNT' AND h.account_id = u.account_id)
         OR (u.lvl = 'CUSTOMER' AND (u.user_id, h.customer_id) IN (SELECT * FROM vc))),
vl AS (SELECT u.user_id FROM u JOIN cmp.audit_log l
         ON u.lvl = 'CSP' OR (u.lvl = 'ACCOUNT' AND l.account_id = u.account_id)
         OR (u.lvl = 'CUSTOMER' AND (u.user_id, l.customer_id) IN (SELECT * FROM vc)))
SELECT u.user_id || ' ' || u.lvl || ' ' || concat_ws(';', u.user_id::text,
  'sims=' || (SELECT count(*) FROM vs WHERE vs.user_id = u.user_id) || ':'
    || md5(coalesce((SELECT string_agg(iccid, ',' ORDER BY iccid) FROM vs WHERE vs.user_id = u.user_id), '')),
  'cust=' || coalesce((SELECT string_agg(customer_id::text, ',' ORDER BY customer_id) FROM vc WHERE vc.user_id = u.user_id), ''),
  'users=' || (SELECT count(*) FROM vu WHERE vu.user_id = u.user_id) || ':'
    || md5(coalesce((SELECT string_agg(seen::text, ',' ORDER BY seen) FROM vu WHERE vu.user_id = u.user_id), '')),
  'acct=' || coalesce((SELECT string_agg(account_id::text, ',' ORDER BY account_id) FROM va WHERE va.user_id = u.user_id), ''),
  'hist=' || (SELECT count(*) FROM vh WHERE vh.user_id = u.user_id),
  'audit=' || (SELECT count(*) FROM vl WHERE vl.user_id = u.user_id),
  'ov=' || (SELECT count(*) FROM vs WHERE vs.user_id = u.user_id
              AND (vs.user_id, vs.customer_id) IN (SELECT * FROM vc)))
  FROM u
UNION ALL
SELECT '- NONE ' || concat_ws(';', '-', 'sims=0:' || md5(''), 'cust=', 'users=0:' || md5(''), 'acct=',
                             'hist=0', 'audit=0', 'ov=0')
" >"$work/expected.full"; then
	not_ok "expected sets computed as superuser" "$(cat "$work/err")"
	finish
fi
awk '{ print $1, $3 }' "$work/expected.full" >"$work/expected"
n_users=$(grep -vc '^- ' "$work/expected")
distinct=$(awk '{ print $2 }' "$work/expected" | sort -u | wc -l)
check_eq "16 CMP users to act as (2 CSP, 3 ACCOUNT, 11 CUSTOMER), plus nobody" "16: CSP=2 ACCOUNT=3 CUSTOMER=11" \
	"$n_users: $(awk '$2 != "NONE" { n[$2]++ } END { printf "CSP=%d ACCOUNT=%d CUSTOMER=%d", n["CSP"], n["ACCOUNT"], n["CUSTOMER"] }' \
		"$work/expected.full")"
# Distinct signatures: the two CSP users differ only by id; sets that are
# equal to another's would hide a leak between those two users, so most
# must differ (the actor id is part of the signature anyway).
if ((distinct == n_users + 1)); then
	ok "every user's expected signature differs from every other's and from nobody's ($distinct)"
else
	not_ok "every user's expected signature differs from every other's" "distinct: $distinct of $((n_users + 1))"
fi
echo "# expected sets (user, level, signature):"
sed 's/^/#   /' "$work/expected.full"

mapfile -t users < <(awk '$2 != "NONE" { print $1 }' "$work/expected.full")
declare -A level
while read -r uid lvl _; do level[$uid]=$lvl; done <"$work/expected.full"

# The application's view on a direct connection, one user after the other:
# the extension and the rules above agree before any pooling.
{
	for uid in "${users[@]}"; do
		printf 'BEGIN;\nSELECT cmp.set_actor(%s) \\g /dev/null\nSELECT %s || %s;\nCOMMIT;\n' \
			"$uid" "'$uid '" "$SIG"
	done
	printf 'SELECT %s || %s;\n' "'- '" "$SIG"
} >"$work/direct.sql"
psql -X -q -At -v ON_ERROR_STOP=1 -U "$role" -d "$db" -f "$work/direct.sql" >"$work/direct.out" 2>"$work/direct.err"
while read -r key sig; do
	got=$(awk -v k="$key" '$1 == k { print $2 }' "$work/direct.out")
	check_eq "direct connection as $role: actor ${key/-/nobody} (${level[$key]:-no actor}) sees exactly its expected set" \
		"$sig" "${got:-$(head -n 3 "$work/direct.err")}"
done <"$work/expected"

# Parallel plans must still be used with the actor set (SPEC §4); the
# clients' "parallel" transactions rely on it.  The tables are tiny, so
# parallel plans are made cheap and index paths expensive.
PARALLEL='SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;'

plan=$(psql -X -q -At -U "$role" -d "$db" 2>&1 <<SQL
BEGIN;
SELECT cmp.set_actor(${users[2]}) \g /dev/null
$PARALLEL
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM cmp.sim_grid;
COMMIT;
SQL
)
if grep -q 'Gather' <<<"$plan" && grep -qE 'Workers Launched: [1-9]' <<<"$plan"; then
	ok "with parallel costs at zero an ACCOUNT user's SIM grid count runs a parallel plan (workers launched)"
else
	not_ok "with parallel costs at zero an ACCOUNT user's SIM grid count runs a parallel plan" "$plan"
fi

# ---------------------------------------------------------------------------
# 3. pgbouncer, transaction pooling, concurrent clients
# ---------------------------------------------------------------------------

# bouncer_start DIR RESET_ALWAYS -- a pgbouncer on a unix socket in DIR
# (port 6432 there; no TCP), pool "pl" of $pool_size and "pl1" of one
# server connection, both to our database as $role, and likewise "pt" and
# "pt1" as $tok_role (section 6).
bouncer_start() {
	local dir=$1 always=$2
	mkdir -p "$dir"
	cat >"$dir/userlist.txt" <<EOF
"$role" ""
"$tok_role" ""
"$PGUSER" ""
EOF
	local host=$PGHOST
	cat >"$dir/pgbouncer.ini" <<EOF
[databases]
pl = host=$host port=$PGPORT dbname=$db user=$role pool_size=$pool_size
pl1 = host=$host port=$PGPORT dbname=$db user=$role pool_size=1
pt = host=$host port=$PGPORT dbname=$db user=$tok_role pool_size=$pool_size
pt1 = host=$host port=$PGPORT dbname=$db user=$tok_role pool_size=1
[pgbouncer]
listen_addr =
listen_port = 6432
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = $PGUSER
pool_mode = transaction
default_pool_size = $pool_size
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
server_reset_query = DISCARD ALL
server_reset_query_always = $always
server_check_delay = 30
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
	[[ $(id -u) -eq 0 ]] && chown -R "$RO_PG_OSUSER": "$dir"
	bouncer_dirs+=("$dir")
	if ! as_pg "$pgbouncer_bin" -d -q "$dir/pgbouncer.ini" >"$dir/start.log" 2>&1; then
		cat "$dir/start.log" "$dir/pgbouncer.log" 2>/dev/null
		return 1
	fi
	for _ in $(seq 1 100); do
		[[ -S $dir/.s.PGSQL.6432 ]] && return 0
		sleep 0.1
	done
	cat "$dir/pgbouncer.log" 2>/dev/null
	return 1
}

# via DIR DB -- psql through the pgbouncer in DIR, as $role.
via() {
	local dir=$1 dbname=$2
	shift 2
	psql -X -q -At -h "$dir" -p 6432 -U "$role" -d "$dbname" "$@"
}

b1=$work/b1
if out=$(bouncer_start "$b1" 0); then
	ok "pgbouncer $("$pgbouncer_bin" --version | head -n1 | awk '{ print $2 }') started as $RO_PG_OSUSER: pool_mode = transaction, pool_size $pool_size, no reset query between transactions"
else
	not_ok "pgbouncer started" "$out"
	finish
fi
check_eq "through pgbouncer: connected as $role, no actor" "$role -" \
	"$(via "$b1" pl -c "SELECT current_user || ' ' || coalesce(cmp.actor_id()::text, '-')" 2>&1)"

# Client c acts as users[c % n_users]; in its "switch" transactions it first
# acts as users[(c + 5) % n_users], another user.  Transaction t (1..n_tx) is, by t % 10:
#   0  autocommit, no actor          5  BEGIN, no actor, COMMIT
#   7  set_actor rolled back to a savepoint, then read: nobody
#   3  another actor, read, then its own actor, read
#   6  parallel plans forced         9  its actor, read, ROLLBACK
#   2  its actor, read, division by zero (expected error), ROLLBACK
#   1, 4, 8  its actor, read, COMMIT
# With tokens (section 6) the actor is set with cmp.set_actor_token and the
# user's token, and t % 10 = 4 is instead
#   4  the user's token with one signature character changed, in a
#      savepoint: refused (expected error), rolled back to it, read: nobody
# Every read prints "tag pid microseconds signature"; tag is
# c<client>:t<tx>:<kind>:<step>:<the user whose set it must be, or ->.
read_sql() { # TAG
	printf "SELECT '%s ' || pg_backend_pid() || ' ' || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint || ' ' || %s;\n" \
		"$1" "$SIG"
}
set_actor_sql() { printf 'SELECT cmp.set_actor(%s) \\g /dev/null\n' "$1"; }
# the user's token and the forged one (section 6 fills these)
declare -A token forged_token
token_sql() { printf "SELECT cmp.set_actor_token('%s') \\\\g /dev/null\n" "${token[$1]}"; }
forged_sql() { printf "SELECT cmp.set_actor_token('%s') \\\\g /dev/null\n" "${forged_token[$1]}"; }

gen_client() { # C OUT NTX MODE -- writes OUT/client_C.sql and appends its tags to OUT/tags
	local c=$1 out=$2 ntx=$3 mode=$4 me other t tag actor=set_actor_sql
	[[ $mode == token ]] && actor=token_sql
	me=${users[c % n_users]}
	other=${users[(c + 5) % n_users]}
	{
		for ((t = 1; t <= ntx; t++)); do
			tag=$(printf 'c%02d:t%03d' "$c" "$t")
			case $((t % 10)) in
			0)
				read_sql "$tag:auto:1:-"
				echo "$tag:auto:1:-" >>"$out/tags"
				;;
			5)
				echo 'BEGIN;'
				read_sql "$tag:none:1:-"
				echo 'COMMIT;'
				echo "$tag:none:1:-" >>"$out/tags"
				;;
			7)
				echo 'BEGIN;'
				echo 'SAVEPOINT s;'
				$actor "$me"
				echo 'ROLLBACK TO SAVEPOINT s;'
				read_sql "$tag:savepoint:1:-"
				echo 'COMMIT;'
				echo "$tag:savepoint:1:-" >>"$out/tags"
				;;
			3)
				echo 'BEGIN;'
				$actor "$other"
				read_sql "$tag:switch:1:$other"
				$actor "$me"
				read_sql "$tag:switch:2:$me"
				echo 'COMMIT;'
				printf '%s\n' "$tag:switch:1:$other" "$tag:switch:2:$me" >>"$out/tags"
				;;
			6)
				echo 'BEGIN;'
				$actor "$me"
				echo "$PARALLEL"
				read_sql "$tag:parallel:1:$me"
				echo 'COMMIT;'
				echo "$tag:parallel:1:$me" >>"$out/tags"
				;;
			9)
				echo 'BEGIN;'
				$actor "$me"
				read_sql "$tag:rollback:1:$me"
				echo 'ROLLBACK;'
				echo "$tag:rollback:1:$me" >>"$out/tags"
				;;
			2)
				echo 'BEGIN;'
				$actor "$me"
				read_sql "$tag:error:1:$me"
				echo 'SELECT 1 / 0;'
				echo 'ROLLBACK;'
				echo "$tag:error:1:$me" >>"$out/tags"
				;;
			4)
				if [[ $mode == token ]]; then
					echo 'BEGIN;'
					echo 'SAVEPOINT s;'
					forged_sql "$me"
					echo 'ROLLBACK TO SAVEPOINT s;'
					read_sql "$tag:forged:1:-"
					echo 'COMMIT;'
					echo "$tag:forged:1:-" >>"$out/tags"
				else
					echo 'BEGIN;'
					$actor "$me"
					read_sql "$tag:plain:1:$me"
					echo 'COMMIT;'
					echo "$tag:plain:1:$me" >>"$out/tags"
				fi
				;;
			*)
				echo 'BEGIN;'
				$actor "$me"
				read_sql "$tag:plain:1:$me"
				echo 'COMMIT;'
				echo "$tag:plain:1:$me" >>"$out/tags"
				;;
			esac
		done
	} >"$out/client_$c.sql"
}

# run_clients DIR DBNAME ROLE NTX MODE -- the concurrent phase: $n_clients
# clients through the pgbouncer in DIR (its database DBNAME, as ROLE), NTX
# transactions each, the actor set with cmp.set_actor (MODE id) or with
# tokens (MODE token; the check names then start with "tokens: ").  One
# check per client transaction, then the phase's totals.
run_clients() {
	local dir=$1 dbname=$2 crole=$3 ntx=$4 mode=$5
	local out=$work/phase_$mode pfx="" c t n uid good bad rc label line
	local expected_errors=0 expected_forged=0 go t0 t1 elapsed
	local leaks wrong missing extra backends switches to_none reads
	local err_expected=0 err_div=0 err_forged=0 err_forged_detail=0 err_other=0 forged_expected=0
	local -a pids=() extra_info=()
	local -A client_rc=()
	[[ $mode == token ]] && pfx="tokens: "
	mkdir -p "$out"
	: >"$out/tags"
	for ((c = 0; c < n_clients; c++)); do
		gen_client "$c" "$out" "$ntx" "$mode"
	done
	for ((t = 1; t <= ntx; t++)); do
		((t % 10 == 2)) && expected_errors=$((expected_errors + 1))
		[[ $mode == token ]] && ((t % 10 == 4)) && expected_forged=$((expected_forged + 1))
	done

	# All clients connect first, then start together.  No ON_ERROR_STOP: the
	# "error" transactions go on with ROLLBACK, and every error is counted.
	go=$out/go
	t0=$(date +%s.%N)
	for ((c = 0; c < n_clients; c++)); do
		(
			while [[ ! -e $go ]]; do sleep 0.01; done
			exec timeout "$client_timeout" psql -X -q -At -h "$dir" -p 6432 -U "$crole" -d "$dbname" \
				-f "$out/client_$c.sql" >"$out/client_$c.out" 2>"$out/client_$c.err"
		) &
		pids+=($!)
		client_pids+=($!)
	done
	touch "$go"
	for ((c = 0; c < n_clients; c++)); do
		wait "${pids[c]}"
		client_rc[$c]=$?
	done
	client_pids=()
	t1=$(date +%s.%N)
	elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

	cat "$out"/client_*.out | grep -v '^$' >"$out/all.out"

	# Compare every read with its user's expected signature, per transaction.
	awk -v report="$out/report" -v txfile="$out/tx" '
		FILENAME == ARGV[1] { want_sig[$1] = $2; owner[$2] = owner[$2] " " $1; next }
		FILENAME == ARGV[2] { want[$1] = 1; split($1, p, ":"); tx[p[1] ":" p[2]] = 1; next }
		{
			tag = $1; sig = $4
			n = split(tag, p, ":"); key = p[n]; t = p[1] ":" p[2]
			if (!(tag in want)) { print "unexpected output: " $0 > report; extra++; next }
			seen[tag]++
			if (sig == want_sig[key]) next
			bad[t] = 1
			split(sig, s, ";")
			if (sig in owner) what = "LEAK: saw exactly the set of user(s)" owner[sig]
			else if (s[1] != key) what = "LEAK: acting as " s[1]
			else what = "WRONG SET"
			if (key == "-") what = "LEAK: no actor set, yet " (sig in owner ? "saw the set of user(s)" owner[sig] : "acting as " s[1] " with rows")
			if (what ~ /^LEAK/) leaks++; else wrong++
			print what " in " tag " on backend " $2 ": expected " want_sig[key] ", got " sig > report
		}
		END {
			for (tag in want) if (seen[tag] != 1) {
				split(tag, p, ":"); bad[p[1] ":" p[2]] = 1; missing++
				print "missing or repeated (" seen[tag] + 0 "x): " tag > report
			}
			for (t in tx) print t, (t in bad) ? "bad" : "good" > txfile
			printf "%d %d %d %d\n", leaks, wrong, missing, extra
		}
	' "$work/expected" "$out/tags" "$out/all.out" >"$out/counts"
	touch "$out/report"
	read -r leaks wrong missing extra <"$out/counts"

	# Errors: exactly the planned divisions by zero (and with tokens the
	# planned refusals of forged tokens, each with its reason), nothing else.
	local planned='ERROR:  division by zero'
	[[ $mode == token ]] &&
		planned+='|ERROR:  identity token refused|DETAIL:  The token.s signature does not verify with key "'"$key_id"'"\.'
	for ((c = 0; c < n_clients; c++)); do
		err_expected=$((err_expected + expected_errors))
		forged_expected=$((forged_expected + expected_forged))
		n=$(grep -c 'ERROR:  division by zero' "$out/client_$c.err")
		err_div=$((err_div + n))
		n=$(grep -c 'ERROR:  identity token refused' "$out/client_$c.err")
		err_forged=$((err_forged + n))
		n=$(grep -c 'DETAIL:  The token.s signature does not verify' "$out/client_$c.err")
		err_forged_detail=$((err_forged_detail + n))
		n=$(grep -Ev "$planned" "$out/client_$c.err" | grep -vc '^[[:space:]]*$')
		err_other=$((err_other + n))
	done

	# Per client: one check per transaction.
	for ((c = 0; c < n_clients; c++)); do
		uid=${users[c % n_users]}
		good=$(grep -c "^$(printf 'c%02d' "$c"):t[0-9]* good$" "$out/tx")
		bad=$(grep -c "^$(printf 'c%02d' "$c"):t[0-9]* bad$" "$out/tx")
		rc=${client_rc[$c]}
		label="${pfx}client $c (user $uid, ${level[$uid]})"
		passed=$((passed + good))
		if ((bad == 0 && good == ntx && rc == 0)); then
			echo "ok - $label: $good/$ntx transactions saw exactly their own set (or nothing without an actor$([[ $mode == token ]] && echo ' or with a forged token'))"
		else
			extra_info=()
			((rc != 0)) && extra_info+=("psql exit status $rc$( ((rc == 124)) && echo ' (timed out)')")
			extra_info+=("$(grep -E "c$(printf '%02d' "$c"):" "$out/report" | head -n 3)")
			extra_info+=("$(grep -Ev "$planned" "$out/client_$c.err" | head -n 3)")
			echo "not ok - $label: $bad of $ntx transactions wrong or missing"
			for line in "${extra_info[@]}"; do
				[[ -n $line ]] && printf '%s\n' "$line" | sed 's/^/#   /'
			done
			failed=$((failed + ntx - good))
		fi
	done

	# Was the pool really shared?  Per server backend, in time order, count the
	# reads that followed another client's read as another actor (or as
	# nobody) on that backend.
	read -r backends switches to_none <<<"$(awk '
		{ n = split($1, p, ":"); print $2, $3, p[n], p[1] }' "$out/all.out" | sort -k1,1n -k2,2n | awk '
		$1 != pid { pid = $1; prev = ""; backends++ }
		prev != "" && $3 != prev && $4 != client { switches++; if ($3 == "-") to_none++ }
		{ prev = $3; client = $4 }
		END { print backends + 0, switches + 0, to_none + 0 }')"
	reads=$(wc -l <"$out/all.out")

	echo "# ${pfx}$n_clients clients x $ntx transactions = $((n_clients * ntx)) transactions ($reads reads) in ${elapsed}s"
	echo "# ${pfx}leaks: $leaks, wrong sets: $wrong, missing/repeated reads: $missing, unexpected lines: $extra"
	if [[ $mode == token ]]; then
		echo "# ${pfx}errors: $err_div expected (division by zero, planned $err_expected), $err_forged forged tokens refused (planned $forged_expected, $err_forged_detail for their signature), $err_other other"
	else
		echo "# errors: $err_div expected (division by zero, planned $err_expected), $err_other other"
	fi
	echo "# ${pfx}server backends: $backends; reads right after another actor on the same backend: $switches ($to_none of them with no actor)"
	if [[ -s $out/report ]]; then
		echo "# ${pfx}first problems:"
		head -n 10 "$out/report" | sed 's/^/#   /'
	fi

	check_eq "${pfx}leaks (a read showing another actor's rows, or rows without an actor)" "0" "$leaks"
	check_eq "${pfx}reads with a wrong set that is no other actor's, missing reads, stray output" "0 0 0" \
		"$wrong $missing $extra"
	if [[ $mode == token ]]; then
		check_eq "${pfx}errors: exactly the planned ones (division by zero; forged tokens refused as not verifying), no other" \
			"$err_expected $forged_expected $forged_expected 0" "$err_div $err_forged $err_forged_detail $err_other"
	else
		check_eq "errors: exactly the planned ones (division by zero), no other" \
			"$err_expected 0" "$err_div $err_other"
	fi
	if ((backends >= 2 && backends <= pool_size)); then
		ok "${pfx}the $n_clients clients shared $backends server connections (pool_size $pool_size)"
	else
		not_ok "${pfx}the $n_clients clients shared at most $pool_size server connections" "backends seen: $backends"
	fi
	if ((switches >= n_clients && to_none >= 1)); then
		ok "${pfx}server connections passed between actors: $switches reads right after another actor's transaction, $to_none with no actor"
	else
		not_ok "${pfx}server connections passed between actors often enough to test anything" \
			"switches: $switches, to no actor: $to_none"
	fi
}

run_clients "$b1" pl "$role" "$n_tx" id

# ---------------------------------------------------------------------------
# 4. Session actors (is_local => false) and DISCARD ALL
# ---------------------------------------------------------------------------

csp=${users[0]}
csp_sig=$(awk -v k="$csp" '$1 == k { print $2 }' "$work/expected")
none_sig=$(awk '$1 == "-" { print $2 }' "$work/expected")

# session_probe DIR -- on pool pl1 (one server connection): client X sets a
# session actor (the CSP user) and reads in the same transaction, then reads
# in a second transaction, and disconnects; client Y then reads with no
# actor.  Prints "pidX1 sigX1 pidX2 sigX2 pidY sigY".
session_probe() {
	local dir=$1 x y
	x=$(via "$dir" pl1 -v ON_ERROR_STOP=1 2>&1 <<SQL
BEGIN;
SELECT cmp.set_actor($csp, is_local => false) \g /dev/null
SELECT pg_backend_pid() || ' ' || $SIG;
COMMIT;
SELECT pg_backend_pid() || ' ' || $SIG;
SQL
)
	y=$(via "$dir" pl1 -v ON_ERROR_STOP=1 -c "SELECT pg_backend_pid() || ' ' || $SIG" 2>&1)
	printf '%s\n' "$x" "$y" | tr '\n' ' '
}

# Control, without a reset query: the session actor outlives the client
# (documented: is_local => false is wrong behind a transaction pooler).
# This proves the probe can see a leak, so the DISCARD ALL check below
# means something.
read -r px1 sx1 px2 sx2 py sy rest <<<"$(session_probe "$b1")"
if [[ $px1 == "$py" && $px2 == "$py" && $sx1 == "$csp_sig" && $sx2 == "$csp_sig" && $sy == "$csp_sig" && -z ${rest:-} ]]; then
	ok "control (no reset query, one server connection): a session actor set with is_local => false is still there for the next client (documented wrong usage), so the probe detects leaks"
else
	not_ok "control: with no reset query the session actor is seen by the next client on the same server connection" \
		"X: backend $px1 $sx1" "X: backend $px2 $sx2" "Y: backend $py $sy ${rest:-}" "expected $csp_sig on one backend"
fi
bouncer_stop "$b1"

b2=$work/b2
if out=$(bouncer_start "$b2" 1); then
	ok "pgbouncer restarted with server_reset_query = DISCARD ALL, server_reset_query_always = 1"
	read -r px1 sx1 px2 sx2 py sy rest <<<"$(session_probe "$b2")"
	same="backends $px1 $px2 $py"
	if [[ $px1 == "$px2" && $px2 == "$py" && -n $py ]]; then
		ok "DISCARD ALL: client X and client Y used the same server connection ($py)"
	else
		not_ok "DISCARD ALL: client X and client Y used the same server connection" "$same"
	fi
	check_eq "DISCARD ALL: within its transaction, X sees the CSP user's set" "$csp_sig" "$sx1"
	check_eq "DISCARD ALL: X's next transaction (after the reset) sees nothing" "$none_sig" "$sx2"
	check_eq "DISCARD ALL: after X disconnects, Y's transaction without set_actor sees nothing" "$none_sig" \
		"$sy${rest:+ $rest}"
	# And the normal use still works under the reset query.
	u=${users[5]}
	check_eq "DISCARD ALL: a transaction-local actor (user $u, ${level[$u]}) still sees exactly its set" \
		"$(awk -v k="$u" '$1 == k { print $2 }' "$work/expected")" \
		"$(printf 'BEGIN;\n%s\nSELECT %s;\nCOMMIT;\n' "$(set_actor_sql "$u")" "$SIG" | via "$b2" pl1 2>&1)"
	bouncer_stop "$b2"
else
	not_ok "pgbouncer restarted with server_reset_query_always = 1" "$out"
fi

# ---------------------------------------------------------------------------
# 5. cmp.allow_session_actor = off for the pool's role (SPEC §4): a session
#    actor is refused, so nothing can be left behind even without a reset
#    query; transaction-local actors work as before.
# ---------------------------------------------------------------------------

psql -X -q -d "$db" -c "ALTER ROLE $role IN DATABASE $db SET cmp.allow_session_actor = off"
b3=$work/b3
if out=$(bouncer_start "$b3" 0); then
	ok "pgbouncer restarted without a reset query, the pool's role with cmp.allow_session_actor = off"
	x=$(via "$b3" pl1 -v VERBOSITY=verbose 2>&1 <<SQL
BEGIN;
SELECT cmp.set_actor($csp, is_local => false);
ROLLBACK;
SQL
)
	if grep -q "42501" <<<"$x"; then
		ok "allow_session_actor = off: set_actor(..., is_local => false) through the pooler is refused with 42501"
	else
		not_ok "allow_session_actor = off: set_actor(..., is_local => false) is refused with 42501" "$x"
	fi
	y=$(via "$b3" pl1 -c "SELECT $SIG" 2>&1)
	check_eq "allow_session_actor = off: the next client on the same server connection sees nothing" "$none_sig" "$y"
	u=${users[5]}
	check_eq "allow_session_actor = off: a transaction-local actor (user $u, ${level[$u]}) still sees exactly its set" \
		"$(awk -v k="$u" '$1 == k { print $2 }' "$work/expected")" \
		"$(printf 'BEGIN;\n%s\nSELECT %s;\nCOMMIT;\n' "$(set_actor_sql "$u")" "$SIG" | via "$b3" pl1 2>&1)"
	bouncer_stop "$b3"
else
	not_ok "pgbouncer restarted for the allow_session_actor check" "$out"
fi
psql -X -q -d "$db" -c "ALTER ROLE $role IN DATABASE $db RESET cmp.allow_session_actor"

# ---------------------------------------------------------------------------
# 6. Verified identities (SPEC §12) through the pooler: a second application
#    role that may call cmp.set_actor_token and nothing that names a user,
#    an HS256 key, one signed token per user made here, the concurrent phase
#    again with tokens, and what that role must not be able to do.
# ---------------------------------------------------------------------------

if psql -X -q -At -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$tok_role'" 2>/dev/null | grep -q 1; then
	not_ok "role $tok_role does not exist yet (left over by another run?)"
	finish
fi
if psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $tok_role LOGIN" >/dev/null 2>"$work/err"; then
	tok_role_created=1
fi
if ((tok_role_created)) && psql -X -q -v ON_ERROR_STOP=1 -d "$db" 2>"$work/err" >/dev/null \
	-c "GRANT EXECUTE ON FUNCTION cmp.set_actor_token(text, boolean) TO $tok_role"; then
	ok "login role $tok_role, GRANT EXECUTE ON FUNCTION cmp.set_actor_token(text, boolean) TO $tok_role"
else
	not_ok "login role $tok_role with EXECUTE on cmp.set_actor_token(text, boolean)" "$(cat "$work/err")"
	finish
fi
check_eq "$tok_role may execute set_actor_token, not set_actor nor set_actor_by_login, may not SET cmp.actor; no superuser, no BYPASSRLS, mapped to no CMP user" \
	"t f f f f f 0" \
	"$(q "SELECT concat_ws(' ',
	             has_function_privilege(r.oid, 'cmp.set_actor_token(text, boolean)', 'EXECUTE'),
	             has_function_privilege(r.oid, 'cmp.set_actor(bigint, boolean)', 'EXECUTE'),
	             has_function_privilege(r.oid, 'cmp.set_actor_by_login(text, boolean)', 'EXECUTE'),
	             has_parameter_privilege(r.oid, 'cmp.actor', 'SET'),
	             r.rolsuper, r.rolbypassrls,
	             (SELECT count(*) FROM cmp.app_user u WHERE u.db_role = r.rolname))
	        FROM pg_roles r WHERE r.rolname = '$tok_role'" || cat "$work/err")"

# make_token LOGIN -- a compact JWS for LOGIN, signed here with the secret:
# header {"alg":"HS256","kid":...,"typ":"JWT"}, claims sub, iss, aud, exp
# (in 10 minutes), iat; the signature is HMAC-SHA256 over "header.claims".
make_token() {
	local now h c s
	now=$(date +%s)
	h=$(printf '{"alg":"HS256","kid":"%s","typ":"JWT"}' "$key_id" | b64url)
	c=$(printf '{"sub":"%s","iss":"%s","aud":"cmp","exp":%d,"iat":%d}' \
		"$1" "$issuer" $((now + 600)) "$now" | b64url)
	s=$(printf '%s' "$h.$c" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$secret_hex" -binary | b64url)
	printf '%s.%s.%s\n' "$h" "$c" "$s"
}
# forge TOKEN -- the same token with the signature's 11th character changed
# (a whole base64url digit: the text stays canonical and decodes to other
# bytes, so it is the signature check that must refuse it)
forge() {
	local head=${1%.*} sig=${1##*.} ch
	ch=${sig:10:1}
	[[ $ch == A ]] && ch=B || ch=A
	printf '%s.%s%s%s\n' "$head" "${sig:0:10}" "$ch" "${sig:11}"
}

declare -A login
while read -r uid lg; do login[$uid]=$lg; done < <(q "SELECT user_id || ' ' || login FROM cmp.app_user ORDER BY user_id")
made=0 one_char=0 problems=()
for uid in "${users[@]}"; do
	if [[ ! ${login[$uid]:-} =~ ^[A-Za-z0-9._@-]+$ ]]; then
		problems+=("user $uid: login '${login[$uid]:-}' is not plain enough to write into JSON unescaped")
		continue
	fi
	token[$uid]=$(make_token "${login[$uid]}")
	forged_token[$uid]=$(forge "${token[$uid]}")
	[[ ${token[$uid]} =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$ ]] && made=$((made + 1))
	diff=$(cmp -l <(printf '%s' "${token[$uid]}") <(printf '%s' "${forged_token[$uid]}") | wc -l)
	((diff == 1 && ${#token[$uid]} == ${#forged_token[$uid]})) && one_char=$((one_char + 1))
done
check_eq "one token per user ($n_users: three base64url parts, a 43-character signature), each forged copy differs from it in one signature character" \
	"$n_users $n_users" "$made $one_char" "${problems[@]}"

# via_tok DIR DB -- psql through the pgbouncer in DIR, as $tok_role.
via_tok() {
	local dir=$1 dbname=$2
	shift 2
	psql -X -q -At -h "$dir" -p 6432 -U "$tok_role" -d "$dbname" "$@"
}

# Each user's token on a direct connection as the token role.
{
	for uid in "${users[@]}"; do
		printf 'BEGIN;\n%s\nSELECT %s || %s;\nCOMMIT;\n' "$(token_sql "$uid")" "'$uid '" "$SIG"
	done
	printf 'SELECT %s || %s;\n' "'- '" "$SIG"
} >"$work/direct_tok.sql"
psql -X -q -At -v ON_ERROR_STOP=1 -U "$tok_role" -d "$db" -f "$work/direct_tok.sql" \
	>"$work/direct_tok.out" 2>"$work/direct_tok.err"
while read -r key sig; do
	got=$(awk -v k="$key" '$1 == k { print $2 }' "$work/direct_tok.out")
	if [[ $key == - ]]; then
		name="tokens: direct connection as $tok_role: with no token, a read sees nothing"
	else
		name="tokens: direct connection as $tok_role: the token of ${login[$key]} (user $key, ${level[$key]}) sees exactly its expected set"
	fi
	check_eq "$name" "$sig" "${got:-$(head -n 3 "$work/direct_tok.err")}"
done <"$work/expected"

b4=$work/b4
if out=$(bouncer_start "$b4" 0); then
	ok "pgbouncer restarted without a reset query for the token role's pools"
else
	not_ok "pgbouncer restarted for the token role's pools" "$out"
	finish
fi
check_eq "tokens: through pgbouncer: connected as $tok_role, no actor" "$tok_role -" \
	"$(via_tok "$b4" pt -c "SELECT current_user || ' ' || coalesce(cmp.actor_id()::text, '-')" 2>&1)"

run_clients "$b4" pt "$tok_role" "$n_tx_tok" token

# What the token role must not do, on pool pt1 (one server connection).
# tok_probe SQL -- one client: a transaction acting as the CSP user by its
# token, read ("before"); then SQL, which must be refused and is followed by
# a read ("after", written as $after in SQL).  Stdout in probe.out, stderr
# (verbose) in probe.err.
after="SELECT 'after ' || pg_backend_pid() || ' ' || $SIG;"
tok_probe() {
	via_tok "$b4" pt1 -v VERBOSITY=verbose >"$work/probe.out" 2>"$work/probe.err" <<SQL
BEGIN;
$(token_sql "$csp")
SELECT 'before ' || pg_backend_pid() || ' ' || $SIG;
COMMIT;
$1
SQL
}
# refused NAME ERROR-LINE SQL [DETAIL-LINE] -- tok_probe SQL; SQL is refused
# with exactly ERROR-LINE (and DETAIL-LINE), the error is the only one, and
# the read after it, on the same server connection the CSP user's token had
# just used, sees nothing.
refused() {
	local name=$1 want_error=$2 sql=$3 want_detail=${4:-} pb sb pa sa errors
	tok_probe "$sql"
	read -r pb sb <<<"$(awk '$1 == "before" { print $2, $3 }' "$work/probe.out")"
	read -r pa sa <<<"$(awk '$1 == "after" { print $2, $3 }' "$work/probe.out")"
	errors=$(grep -c '^ERROR:' "$work/probe.err")
	if [[ -n $pb && $pb == "$pa" && $sb == "$csp_sig" && $sa == "$none_sig" && $errors == 1 ]] &&
		grep -qxF "ERROR:  $want_error" "$work/probe.err" &&
		{ [[ -z $want_detail ]] || grep -qxF "DETAIL:  $want_detail" "$work/probe.err"; }; then
		ok "$name"
	else
		not_ok "$name" "expected the error: $want_error${want_detail:+ / $want_detail}" \
			"before (CSP user's token): backend $pb $sb" "after: backend $pa $sa" \
			"expected before $csp_sig, after $none_sig on the same backend" "$(cat "$work/probe.err")"
	fi
}

refused "tokens: as $tok_role, cmp.set_actor($csp) is refused (42501) and the next transaction sees nothing" \
	"42501: permission denied for function set_actor" \
	"SELECT cmp.set_actor($csp);
$after"
refused "tokens: as $tok_role, cmp.set_actor($csp) in a transaction is refused (42501); rolled back to a savepoint, the transaction sees nothing" \
	"42501: permission denied for function set_actor" \
	"BEGIN;
SAVEPOINT s;
SELECT cmp.set_actor($csp);
ROLLBACK TO SAVEPOINT s;
$after
COMMIT;"
refused "tokens: as $tok_role, cmp.set_actor_by_login('${login[$csp]}') is refused (42501) and the next transaction sees nothing" \
	"42501: permission denied for function set_actor_by_login" \
	"SELECT cmp.set_actor_by_login('${login[$csp]}');
$after"
refused "tokens: as $tok_role, SET cmp.actor = '$csp' is refused (42501) and the next transaction sees nothing" \
	"42501: permission denied to set parameter \"cmp.actor\"" \
	"SET cmp.actor = '$csp';
$after"
refused "tokens: as $tok_role, SET LOCAL cmp.actor = '$csp' is refused (42501); rolled back to a savepoint, the transaction sees nothing" \
	"42501: permission denied to set parameter \"cmp.actor\"" \
	"BEGIN;
SAVEPOINT s;
SET LOCAL cmp.actor = '$csp';
ROLLBACK TO SAVEPOINT s;
$after
COMMIT;"
refused "tokens: as $tok_role, set_config('cmp.actor', '$csp', true) is refused (42501); rolled back to a savepoint, the transaction sees nothing" \
	"42501: permission denied to set parameter \"cmp.actor\"" \
	"BEGIN;
SAVEPOINT s;
SELECT set_config('cmp.actor', '$csp', true);
ROLLBACK TO SAVEPOINT s;
$after
COMMIT;"
refused "tokens: the CSP user's token with one signature character changed is refused (42501, the signature does not verify) and the next transaction sees nothing" \
	"42501: identity token refused" \
	"SELECT cmp.set_actor_token('${forged_token[$csp]}');
$after" \
	"The token's signature does not verify with key \"$key_id\"."
refused "tokens: the CSP user's token with one signature character changed, in a transaction, is refused (42501); rolled back to a savepoint, the transaction sees nothing" \
	"42501: identity token refused" \
	"BEGIN;
SAVEPOINT s;
SELECT cmp.set_actor_token('${forged_token[$csp]}');
ROLLBACK TO SAVEPOINT s;
$after
COMMIT;" \
	"The token's signature does not verify with key \"$key_id\"."
refused "tokens: the CSP user's forged token after its valid token in the same transaction is refused (42501); rolled back to a savepoint taken before both, the transaction sees nothing" \
	"42501: identity token refused" \
	"BEGIN;
SAVEPOINT s;
$(token_sql "$csp")
SELECT cmp.set_actor_token('${forged_token[$csp]}');
ROLLBACK TO SAVEPOINT s;
$after
COMMIT;" \
	"The token's signature does not verify with key \"$key_id\"."
bouncer_stop "$b4"

finish
