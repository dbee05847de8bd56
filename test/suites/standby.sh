#!/usr/bin/env bash
# test/suites/standby.sh -- SPEC §10 (Replicas) and §14 (reads on hot
# standbys): a primary and a streaming standby made from it with
# `pg_basebackup -R -X stream`, both clusters of our own (tools/cluster.sh;
# ports RO_STANDBY_PRIMARY_PORT, default 55493, and RO_STANDBY_PORT, default
# 55494, each on a unix socket in its own directory), stopped and removed on
# any exit.  The caller's PGHOST/PGPORT cluster is not touched.
#
#   1. The fixture on the primary, through the functions: a CSP user; two
#      RESELLER accounts, each with an ACCOUNT admin; ACTIVE customers created
#      with their admin users, a DRAFT one, a SUSPENDED one; CUSTOMER users on
#      one customer, on two (plus a DRAFT one, which it must not see), and on
#      an ACTIVE and a SUSPENDED customer; SIMs on all of them; an ACCOUNT user
#      mapped to a login role by db_role, and a LOCKED one mapped to another;
#      an application login role granted EXECUTE on set_actor,
#      set_actor_by_login and set_actor_token; an HS256 identity key (the
#      token is made here with openssl); a PL/pgSQL function that counts SIMs
#      (its plan cached); an ACCOUNT user's change-feed consumer, read and
#      acknowledged.  Then the standby.
#   2. Who is acting, on the standby (read-only whatever the client asks) and
#      on the primary in BEGIN READ ONLY and under default_transaction_read_only:
#      set_actor, set_actor_by_login and set_actor_token each set the right
#      user (cmp.actor_id(), cmp.whoami()), locally and for the session; the
#      refusals (a LOCKED user, an expired token) are 42501 there too.
#   3. What each actor reads, on both servers: a CSP user, both ACCOUNT
#      users, CUSTOMER users with one and with two visible customers, one
#      whose second customer is SUSPENDED, a db_role-mapped ACCOUNT user, a
#      db_role-mapped LOCKED user and a role with no actor.  Eleven relations
#      (count and a digest of the keys of the visible rows) must equal what
#      SPEC §5 allows, computed by the superuser from the tables.
#   4. Revocations made on the primary reach sessions that were open on the
#      standby before them, through statements PREPAREd before (generic plans
#      forced), a cached PL/pgSQL plan and fresh statements, once replayed
#      (the wait is for pg_last_wal_replay_lsn() to reach the primary's
#      pg_current_wal_lsn()): a CUSTOMER user unassigned from one of its
#      customers, then LOCKED; a db_role-mapped ACCOUNT user LOCKED; a
#      customer SUSPENDED (its users still see it, read-only, SPEC §3) and then
#      TERMINATED (they no longer do); cmp.actor_can tells the customer's
#      admin, on the standby, that it may no longer add users to it once the
#      suspension is replayed.  Replication lag made visible: with
#      replay paused (pg_wal_replay_pause), the unassignment has been received
#      but not applied, and the session still reads the SIMs it had.
#   5. Writes on the standby fail cleanly: every changing function (and the
#      feed's read_events, which locks its consumer) is refused with SQLSTATE
#      25006, never an internal error, and the standby keeps running.
#   6. Promotion: the primary stopped, the standby promoted; customer numbers
#      continue from the replicated counter (max + 1), new ids of accounts,
#      users, customers, histories, audit rows and events are above every
#      replicated one, and the consumer made on the primary reads, on the
#      promoted server, the replicated events it had not acknowledged and then
#      the new ones, in order, each once.
#
# Bounded: about 15 s; every wait gives up after RO_STANDBY_WAIT seconds
# (default 30).  RO_KEEP=1 keeps the work directory.  Prints `ok - ...` /
# `not ok - ...` lines and ends with `N passed, M failed`.
set -uo pipefail
export LC_ALL=C

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/report.sh
source "$repo/test/suites/lib/report.sh"
wait_max=${RO_STANDBY_WAIT:-30}
p_port=${RO_STANDBY_PRIMARY_PORT:-55493}
s_port=${RO_STANDBY_PORT:-55494}
db=standby
app=ro_sb_app

# cluster_start exports PGHOST/PGPORT/RO_CLUSTER_DIR in this process only;
# only the directories made here are ever stopped and removed.
caller_dir=${RO_CLUSTER_DIR:-}
unset RO_CLUSTER_DIR
export RO_PORT=$p_port
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"

passed=0 failed=0
work=$(mktemp -d /tmp/ro_sb.XXXXXX)
chmod 755 "$work"
primary='' standby=''
declare -A s_fd=() s_pid=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local n
	for n in "${!s_fd[@]}"; do eval "exec ${s_fd[$n]}>&-" 2>/dev/null; done
	for n in "${!s_pid[@]}"; do kill "${s_pid[$n]}" 2>/dev/null; done
	[[ -n $standby && $standby != "$caller_dir" ]] && cluster_stop "$standby" >/dev/null 2>&1
	[[ -n $primary && $primary != "$caller_dir" ]] && cluster_stop "$primary" >/dev/null 2>&1
	[[ -n ${RO_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
finish() { echo "$passed passed, $failed failed"; exit 0; }
fail() { not_ok "$1" "$(tail -20 "${2:-/dev/null}" 2>/dev/null)"; finish; }

# ---- connections -------------------------------------------------------------
# conn p|s [ROLE]: a conninfo for the primary or the standby.
conn() {
	local dir=$primary port=$p_port
	[[ $1 == s ]] && dir=$standby port=$s_port
	printf 'host=%s port=%s dbname=%s user=%s' "$dir" "$port" "$db" "${2:-postgres}"
}
pq() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$(conn p)" "$@"; }
pval() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$(conn p)" -c "$1" 2>&1; }
sval() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$(conn s)" -c "$1" 2>&1; }

# replayed: wait until the standby has replayed everything the primary has
# written so far.
replayed() {
	local lsn i
	lsn=$(pval 'SELECT pg_current_wal_lsn()')
	for ((i = 0; i < wait_max * 20; i++)); do
		[[ $(sval "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]] && return 0
		sleep 0.05
	done
	return 1
}
replay_or_fail() { replayed || fail "the standby replays the primary's WAL ($1)" "$standby/postgres.log"; }

# Sessions kept open on the standby: psql reading a fifo.  sess NAME LABEL SQL
# runs SQL in session NAME and prints its output (errors with their
# SQLSTATE, since VERBOSITY is verbose).
sess_open() { # NAME CONNINFO
	local n=$1 fd
	mkfifo "$work/$n.in"
	psql -X -q -At -v VERBOSITY=verbose -d "$2" <"$work/$n.in" >"$work/$n.out" 2>&1 &
	s_pid[$n]=$!
	exec {fd}>"$work/$n.in"
	s_fd[$n]=$fd
}
sess() { # NAME LABEL SQL
	local n=$1 label=$2 i
	printf '\\echo @@<%s\n%s\n\\echo @@>%s\n' "$label" "$3" "$label" >&"${s_fd[$n]}"
	for ((i = 0; i < wait_max * 20; i++)); do
		grep -qx "@@>$label" "$work/$n.out" && break
		kill -0 "${s_pid[$n]}" 2>/dev/null || break
		sleep 0.05
	done
	sed -n "/^@@<$label\$/,/^@@>$label\$/p" "$work/$n.out" | sed '1d;$d'
}
# sqlstate_of OUTPUT: the SQLSTATE of the first error in psql's verbose output
sqlstate_of() { sed -n 's/^\(psql:[^ ]* \)\{0,1\}ERROR:  \([0-9A-Z]\{5\}\):.*/\2/p' <<<"$1" | head -n1; }

# ---- the primary ---------------------------------------------------------------
cluster_start -c wal_level=replica -c max_wal_senders=4 \
	-c session_preload_libraries=reseller_onboarding >"$work/primary.log" 2>&1
rc=$?
primary=${RO_CLUSTER_DIR:-}
((rc == 0)) || fail "the primary starts" "$work/primary.log"
createdb -h "$primary" -p "$p_port" -U postgres "$db" || fail "createdb on the primary"

# an HS256 secret: 32 random bytes, as hex (for openssl) and base64url (for the key)
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
openssl rand 32 >"$work/secret"
secret_hex=$(od -An -v -tx1 "$work/secret" | tr -d ' \n')
secret_b64=$(b64url <"$work/secret")
issuer=https://idp.standby.example kid=sb-hs-1
# make_token SUB EXP-OFFSET-SECONDS
make_token() {
	local now head claims input sig
	now=$(date +%s)
	head=$(printf '{"alg":"HS256","typ":"JWT","kid":"%s"}' "$kid" | b64url)
	claims=$(printf '{"iss":"%s","aud":["cmp"],"sub":"%s","iat":%d,"exp":%d}' \
		"$issuer" "$1" "$now" "$((now + $2))" | b64url)
	input="$head.$claims"
	sig=$(printf '%s' "$input" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$secret_hex" -binary | b64url)
	printf '%s.%s\n' "$input" "$sig"
}

pq -v app="$app" -v issuer="$issuer" -v kid="$kid" \
	-v secret="$secret_b64" >"$work/fixture.log" 2>&1 <<'SQL' || fail "the fixture on the primary" "$work/fixture.log"
CREATE EXTENSION reseller_onboarding;
CREATE SCHEMA sb;
-- the n-th test ICCID: 8949 and n on 14 digits, then its Luhn check digit
CREATE FUNCTION sb.iccid(n int) RETURNS text LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
DECLARE
	body text := '8949' || lpad(n::text, 14, '0');
	total int := 0;
	d int;
BEGIN
	FOR i IN 0 .. length(body) - 1 LOOP
		d := substr(body, length(body) - i, 1)::int;
		IF i % 2 = 0 THEN
			d := d * 2;
			IF d > 9 THEN d := d - 9; END IF;
		END IF;
		total := total + d;
	END LOOP;
	RETURN body || ((10 - total % 10) % 10)::text;
END $$;
-- the SIMs the caller sees, from a plan PL/pgSQL caches for the session
CREATE FUNCTION sb.sim_count() RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT count(*) FROM cmp.sim_card);
END $$;
GRANT USAGE ON SCHEMA sb TO PUBLIC;

CREATE ROLE :app LOGIN;
CREATE ROLE ro_sb_mapped LOGIN;
CREATE ROLE ro_sb_locked LOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean), cmp.set_actor_by_login(text, boolean),
	cmp.set_actor_token(text, boolean) TO :app;

SELECT cmp.create_user(login => 'sb_csp', email => 'csp@sb.example', context_level => 'CSP') AS csp \gset
SELECT cmp.create_account(account_number => 'SB-1', name => 'Standby One', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'PDF', customer_billing_cycle_day => 3) AS r1 \gset
SELECT cmp.create_account(account_number => 'SB-2', name => 'Standby Two', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS r2 \gset
SELECT cmp.create_user(login => 'sb_acc1', email => 'acc1@sb.example', context_level => 'ACCOUNT',
	account_id => :r1, is_admin => true) AS acc1 \gset
SELECT cmp.create_user(login => 'sb_acc2', email => 'acc2@sb.example', context_level => 'ACCOUNT',
	account_id => :r2, is_admin => true) AS acc2 \gset
SELECT cmp.create_user(login => 'sb_mapped', email => 'mapped@sb.example', context_level => 'ACCOUNT',
	account_id => :r2, db_role => 'ro_sb_mapped') AS mapped \gset
SELECT cmp.create_user(login => 'sb_locked', email => 'locked@sb.example', context_level => 'ACCOUNT',
	account_id => :r1, db_role => 'ro_sb_locked') AS locked \gset
SELECT cmp.set_user_status(:locked, 'LOCKED');
SELECT cmp.provision_sims(account_id => :r1, iccids => array(SELECT sb.iccid(g) FROM generate_series(1, 40) g));
SELECT cmp.provision_sims(account_id => :r2, iccids => array(SELECT sb.iccid(g) FROM generate_series(101, 130) g));
SELECT cmp.add_identity_key(key_id => :'kid', issuer => :'issuer', algorithm => 'HS256', key => :'secret');

BEGIN;
SELECT cmp.set_actor(:acc1);
SELECT cmp.create_customer(account_id => :r1, name => 'One', status => 'ACTIVE',
	admin_login => 'sb_c1_admin', admin_email => 'c1@sb.example') AS c1 \gset
SELECT cmp.create_customer(account_id => :r1, name => 'Two', status => 'ACTIVE', billable => true,
	country => 'DE', city => 'Berlin', street => 'Weg 2', zip_code => '10115',
	admin_login => 'sb_c2_admin', admin_email => 'c2@sb.example') AS c2 \gset
SELECT cmp.create_customer(account_id => :r1, name => 'Three (draft)') AS c3 \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c1]::bigint[], login => 'sb_cu1', email => 'cu1@sb.example') AS cu1 \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c1, :c2]::bigint[], login => 'sb_cu2', email => 'cu2@sb.example') AS cu2 \gset
SELECT cmp.assign_user_to_customers(:cu2, ARRAY[:c3]::bigint[]);
SELECT cmp.assign_sims(:c1, array(SELECT sb.iccid(g) FROM generate_series(1, 10) g));
SELECT cmp.assign_sims(:c2, array(SELECT sb.iccid(g) FROM generate_series(11, 25) g));
SELECT cmp.assign_sims(:c3, array(SELECT sb.iccid(g) FROM generate_series(26, 28) g));
SELECT cmp.set_customer_status(:c2, 'SUSPENDED', reason => 'history');
SELECT cmp.set_customer_status(:c2, 'ACTIVE', reason => 'history');
SELECT cmp.create_event_consumer('sb_feed');
SELECT count(*) FROM cmp.read_events('sb_feed') \gset feed_
SELECT max(event_id) AS feed_acked FROM cmp.event \gset
SELECT cmp.ack_events('sb_feed', :feed_acked) AS feed_ackn \gset
COMMIT;
BEGIN;
SELECT cmp.set_actor(:acc2);
SELECT cmp.create_customer(account_id => :r2, name => 'Four', status => 'ACTIVE',
	admin_login => 'sb_c4_admin', admin_email => 'c4@sb.example') AS c4 \gset
SELECT cmp.create_customer(account_id => :r2, name => 'Five', status => 'ACTIVE',
	admin_login => 'sb_c5_admin', admin_email => 'c5@sb.example') AS c5 \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c4, :c5]::bigint[], login => 'sb_cu4', email => 'cu4@sb.example') AS cu4 \gset
SELECT cmp.assign_sims(:c4, array(SELECT sb.iccid(g) FROM generate_series(101, 110) g));
SELECT cmp.assign_sims(:c5, array(SELECT sb.iccid(g) FROM generate_series(111, 115) g));
SELECT cmp.set_customer_status(:c5, 'SUSPENDED', reason => 'fixture');
COMMIT;
\echo ids :csp :r1 :r2 :acc1 :acc2 :mapped :locked :c1 :c2 :c3 :c4 :c5 :cu1 :cu2 :cu4 :feed_count :feed_ackn :feed_acked
SQL
read -r _ csp r1 r2 acc1 _ mapped locked c1 c2 c3 c4 c5 cu1 cu2 cu4 feed_read feed_ackn feed_acked \
	< <(grep '^ids ' "$work/fixture.log")
[[ -n ${feed_acked:-} ]] || fail "the fixture reports its ids" "$work/fixture.log"
ok "the fixture on the primary, through the functions (accounts $r1 $r2, customers $c1-$c5, a consumer of the ACCOUNT admin of SB-1 that read $feed_read events and acknowledged $feed_ackn, up to event $feed_acked)"

# ---- the standby ---------------------------------------------------------------
standby=$(mktemp -d /tmp/reseller_onboarding.XXXXXX)
[[ $(id -u) -eq 0 ]] && chown "$RO_PG_OSUSER": "$standby"
as_pg "$RO_PG_BINDIR/pg_basebackup" -d "host=$primary port=$p_port user=postgres" \
	-D "$standby/data" -R -X stream -c fast >"$work/basebackup.log" 2>&1 ||
	fail "pg_basebackup -R -X stream of the primary" "$work/basebackup.log"
# The settings as cluster_start passes them, on the command line: they win
# over the copied configuration; primary_conninfo comes from -R.
s_opts=(-k "$standby" -p "$s_port" -c listen_addresses= -c fsync=off -c log_min_messages=warning
	-c "log_line_prefix=%m [%p] %q%u@%d " -c hot_standby=on
	-c session_preload_libraries=reseller_onboarding)
if [[ -n ${RO_PG_OPTS:-} ]]; then
	# shellcheck disable=SC2206 # word-split, as cluster_start does
	s_opts+=($RO_PG_OPTS)
fi
as_pg "$RO_PG_BINDIR/pg_ctl" -D "$standby/data" -l "$standby/postgres.log" \
	-o "$(printf '%q ' "${s_opts[@]}")" -w -t 60 start >"$work/standby_ctl.log" 2>&1 ||
	{ cat "$standby/postgres.log" >>"$work/standby_ctl.log" 2>/dev/null; fail "the standby starts" "$work/standby_ctl.log"; }
replay_or_fail "after the fixture"
check_eq "a streaming standby of our own (port $s_port): in recovery, read-only, streaming from the primary" \
	"t|on|streaming|1" \
	"$(sval "SELECT pg_is_in_recovery(), current_setting('transaction_read_only'), (SELECT status FROM pg_stat_wal_receiver), (SELECT count(*) FROM cmp.customer WHERE customer_id = $c5)" | tr '\n' ' ' | sed 's/ $//')" \
	"$(tail -5 "$standby/postgres.log")"
check_eq "the primary sees the standby in pg_stat_replication" "streaming" \
	"$(pval 'SELECT state FROM pg_stat_replication')"

# ---- 2. who is acting, in read-only transactions ---------------------------------
token_cu2=$(make_token sb_cu2 600)
token_old=$(make_token sb_cu2 -120)
# acting SERVER SETTER [PGOPTIONS]: in BEGIN READ ONLY, set the actor and print
# what the call returned, cmp.actor_id(), whoami's login and transaction_read_only
acting() {
	PGOPTIONS=${3:-} psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$(conn "$1" "$app")" 2>&1 <<SQL | tr '\n' ' ' | sed 's/ $//'
BEGIN READ ONLY;
SELECT 'set ' || ($2)::text;
SELECT cmp.actor_id(), (cmp.whoami()).login, current_setting('transaction_read_only');
COMMIT;
SELECT coalesce(cmp.actor_id()::text, 'none');
SQL
}
for server in s p; do
	for ro in '' '-c default_transaction_read_only=on'; do
		[[ $server == s && -n $ro ]] && continue
		where="standby"
		[[ $server == p ]] && where="primary${ro:+ (default_transaction_read_only)}"
		check_eq "$where, BEGIN READ ONLY: set_actor sets the CUSTOMER user for the transaction" \
			"set  $cu2|sb_cu2|on none" "$(acting $server "cmp.set_actor($cu2)" "$ro")"
		check_eq "$where, BEGIN READ ONLY: set_actor_by_login returns and sets the user" \
			"set $cu2 $cu2|sb_cu2|on none" "$(acting $server "cmp.set_actor_by_login('sb_cu2')" "$ro")"
		check_eq "$where, BEGIN READ ONLY: set_actor_token (HS256, signed here) returns and sets the token's subject" \
			"set $cu2 $cu2|sb_cu2|on none" "$(acting $server "cmp.set_actor_token('$token_cu2')" "$ro")"
	done
done
check_eq "standby, no transaction block: set_actor, set_actor_by_login and set_actor_token with is_local => false set the session's actor" \
	"$csp $acc1 $cu2 $cu2" \
	"$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$(conn s "$app")" 2>&1 <<SQL | tr '\n' ' ' | sed 's/ $//'
SELECT cmp.set_actor($csp, is_local => false) \\g /dev/null
SELECT cmp.actor_id();
SELECT cmp.set_actor_by_login('sb_acc1', is_local => false) \\g /dev/null
SELECT cmp.actor_id();
SELECT cmp.set_actor_token('$token_cu2', is_local => false) \\g /dev/null
SELECT cmp.actor_id();
BEGIN READ ONLY;
SELECT cmp.actor_id();
COMMIT;
SQL
)"
refusal() { # SERVER SETTER: the SQLSTATE and the actor left behind
	local out
	out=$(psql -X -q -At -v VERBOSITY=verbose -d "$(conn "$1" "$app")" 2>&1 <<SQL
BEGIN READ ONLY;
SELECT $2;
ROLLBACK;
SELECT 'after ' || coalesce(cmp.actor_id()::text, 'none');
SQL
)
	echo "$(sqlstate_of "$out") $(grep '^after ' <<<"$out")"
}
# The refusals are those of the primary: 55000 for set_actor and
# set_actor_by_login of a LOCKED user (the object's state), 42501 for every
# token refused (SPEC §12).
token_locked=$(make_token sb_locked 600)
for r in "set_actor of a LOCKED user|55000|cmp.set_actor($locked)" \
	"set_actor_by_login of a LOCKED user|55000|cmp.set_actor_by_login('sb_locked')" \
	"set_actor_token naming a LOCKED user|42501|cmp.set_actor_token('$token_locked')" \
	"set_actor_token with an expired token|42501|cmp.set_actor_token('$token_old')"; do
	IFS='|' read -r what state call <<<"$r"
	check_eq "standby and primary: $what is refused ($state) and sets no actor" \
		"$state after none|$state after none" "$(refusal s "$call")|$(refusal p "$call")"
done

# ---- 3. what each actor reads ---------------------------------------------------
# The same projection whoever reads it: per relation, the count and a digest
# of the keys of the visible rows (sim_grid and customer_overview rows with
# the columns they join in).
cat >"$work/read.sql" <<'SQL'
SELECT 'account', count(*), md5(coalesce(string_agg(account_id::text, ',' ORDER BY account_id), '')) FROM cmp.account
UNION ALL SELECT 'app_user', count(*), md5(coalesce(string_agg(user_id::text, ',' ORDER BY user_id), '')) FROM cmp.app_user
UNION ALL SELECT 'customer', count(*), md5(coalesce(string_agg(customer_id::text, ',' ORDER BY customer_id), '')) FROM cmp.customer
UNION ALL SELECT 'user_customer', count(*), md5(coalesce(string_agg(user_id || '/' || customer_id, ',' ORDER BY user_id, customer_id), '')) FROM cmp.user_customer
UNION ALL SELECT 'sim_card', count(*), md5(coalesce(string_agg(iccid, ',' ORDER BY iccid), '')) FROM cmp.sim_card
UNION ALL SELECT 'customer_status_history', count(*), md5(coalesce(string_agg(history_id::text, ',' ORDER BY history_id), '')) FROM cmp.customer_status_history
UNION ALL SELECT 'sim_assignment_history', count(*), md5(coalesce(string_agg(history_id::text, ',' ORDER BY history_id), '')) FROM cmp.sim_assignment_history
UNION ALL SELECT 'audit_log', count(*), md5(coalesce(string_agg(event_id::text, ',' ORDER BY event_id), '')) FROM cmp.audit_log
UNION ALL SELECT 'event', count(*), md5(coalesce(string_agg(event_id::text, ',' ORDER BY event_id), '')) FROM cmp.event
UNION ALL SELECT 'sim_grid', count(*), md5(coalesce(string_agg(concat_ws('|', iccid, coalesce(account_number, '-'),
		coalesce(customer_number::text, '-'), coalesce(customer_name, '-'), coalesce(customer_status::text, '-')), ',' ORDER BY iccid), ''))
	FROM cmp.sim_grid
UNION ALL SELECT 'customer_overview', count(*), md5(coalesce(string_agg(concat_ws('|', customer_id, sim_count, user_count), ',' ORDER BY customer_id), ''))
	FROM cmp.customer_overview;
SQL
# What SPEC §5 allows, from the tables, as the superuser: LEVEL CSP,
# ACCOUNT, CUSTOMER or NONE; ACCOUNT the account; CUSTOMERS those a CUSTOMER
# user sees (its assigned ones that are ACTIVE or SUSPENDED).
expected_sql() { # LEVEL ACCOUNT CUSTOMERS
	local csp="'$1' = 'CSP'" acct="('$1' = 'ACCOUNT' AND account_id = $2)"
	local cust="('$1' = 'CUSTOMER' AND customer_id = ANY ('$3'::bigint[]))" iscust="'$1' = 'CUSTOMER'"
	cat <<SQL
SELECT 'account', count(*), md5(coalesce(string_agg(account_id::text, ',' ORDER BY account_id), '')) FROM cmp.account
	WHERE $csp OR $acct
UNION ALL SELECT 'app_user', count(*), md5(coalesce(string_agg(user_id::text, ',' ORDER BY user_id), '')) FROM cmp.app_user u
	WHERE $csp OR $acct OR ($iscust AND EXISTS (SELECT 1 FROM cmp.user_customer uc
		WHERE uc.user_id = u.user_id AND uc.customer_id = ANY ('$3'::bigint[])))
UNION ALL SELECT 'customer', count(*), md5(coalesce(string_agg(customer_id::text, ',' ORDER BY customer_id), '')) FROM cmp.customer
	WHERE $csp OR $acct OR $cust
UNION ALL SELECT 'user_customer', count(*), md5(coalesce(string_agg(user_id || '/' || customer_id, ',' ORDER BY user_id, customer_id), '')) FROM cmp.user_customer
	WHERE $csp OR $acct OR $cust
UNION ALL SELECT 'sim_card', count(*), md5(coalesce(string_agg(iccid, ',' ORDER BY iccid), '')) FROM cmp.sim_card
	WHERE $csp OR $acct OR $cust
UNION ALL SELECT 'customer_status_history', count(*), md5(coalesce(string_agg(history_id::text, ',' ORDER BY history_id), '')) FROM cmp.customer_status_history
	WHERE $csp OR $acct OR $cust
UNION ALL SELECT 'sim_assignment_history', count(*), md5(coalesce(string_agg(history_id::text, ',' ORDER BY history_id), '')) FROM cmp.sim_assignment_history
	WHERE $csp OR $acct OR ($iscust AND (from_customer_id = ANY ('$3'::bigint[]) OR to_customer_id = ANY ('$3'::bigint[])))
UNION ALL SELECT 'audit_log', count(*), md5(coalesce(string_agg(event_id::text, ',' ORDER BY event_id), '')) FROM cmp.audit_log
	WHERE $csp OR $acct OR $cust
UNION ALL SELECT 'event', count(*), md5(coalesce(string_agg(event_id::text, ',' ORDER BY event_id), '')) FROM cmp.event
	WHERE $csp OR $acct OR $cust
UNION ALL SELECT 'sim_grid', count(*), md5(coalesce(string_agg(concat_ws('|', iccid,
		CASE WHEN $iscust THEN '-' ELSE coalesce(account_number, '-') END,
		coalesce(customer_number::text, '-'), coalesce(customer_name, '-'), coalesce(customer_status::text, '-')), ',' ORDER BY iccid), ''))
	FROM cmp.sim_grid WHERE $csp OR $acct OR $cust
UNION ALL SELECT 'customer_overview', count(*), md5(coalesce(string_agg(concat_ws('|', customer_id, sim_count, user_count), ',' ORDER BY customer_id), ''))
	FROM cmp.customer_overview WHERE $csp OR $acct OR $cust;
SQL
}
# read_as SERVER HOW ARG: the projection read by an actor in BEGIN READ ONLY
# (HOW: id, login, token = how the application role sets it; role = log in
# as ARG, no set_actor, so its db_role mapping acts; none = no actor)
read_as() {
	local user=$app setter=''
	case $2 in
		id) setter="SELECT cmp.set_actor($3) \\g /dev/null" ;;
		login) setter="SELECT cmp.set_actor_by_login('$3') \\g /dev/null" ;;
		token) setter="SELECT cmp.set_actor_token('$3') \\g /dev/null" ;;
		role) user=$3 ;;
	esac
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$(conn "$1" "$user")" 2>&1 <<SQL
BEGIN READ ONLY;
$setter
\\i $work/read.sql
COMMIT;
SQL
}
visible_customers() { # USER: the customers SPEC §5 lets it see, as an array literal
	pval "SELECT coalesce(array_agg(uc.customer_id ORDER BY uc.customer_id), '{}') FROM cmp.user_customer uc
		JOIN cmp.customer c USING (customer_id)
		JOIN cmp.app_user u USING (user_id)
		WHERE uc.user_id = $1 AND c.status IN ('ACTIVE', 'SUSPENDED') AND u.status = 'ACTIVE'"
}
expected() { # LEVEL ACCOUNT CUSTOMERS
	expected_sql "$@" | pq 2>&1
}
summary() { awk -F'|' '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}' <<<"$1"; }
cs_cu1=$(visible_customers "$cu1") cs_cu2=$(visible_customers "$cu2") cs_cu4=$(visible_customers "$cu4")
check_eq "the fixture: cu1 sees one customer, cu2 two (its DRAFT one not), cu4 an ACTIVE and a SUSPENDED one" \
	"{$c1} {$c1,$c2} {$c4,$c5}" "$cs_cu1 $cs_cu2 $cs_cu4"
token_cu4=$(make_token sb_cu4 600)
# name|HOW|ARG|LEVEL|ACCOUNT|CUSTOMERS
actors=(
	"CSP user (set_actor)|id|$csp|CSP|0|{}"
	"ACCOUNT user of SB-1 (set_actor)|id|$acc1|ACCOUNT|$r1|{}"
	"ACCOUNT user of SB-2 (set_actor_by_login)|login|sb_acc2|ACCOUNT|$r2|{}"
	"CUSTOMER user with one customer (set_actor)|id|$cu1|CUSTOMER|0|$cs_cu1"
	"CUSTOMER user with two customers and a DRAFT one (set_actor)|id|$cu2|CUSTOMER|0|$cs_cu2"
	"CUSTOMER user with an ACTIVE and a SUSPENDED customer (set_actor_token)|token|$token_cu4|CUSTOMER|0|$cs_cu4"
	"ACCOUNT user mapped by db_role (no set_actor)|role|ro_sb_mapped|ACCOUNT|$r2|{}"
	"LOCKED user mapped by db_role|role|ro_sb_locked|NONE|0|{}"
	"a role with no actor and no mapping|none|-|NONE|0|{}"
)
for a in "${actors[@]}"; do
	IFS='|' read -r name how arg lvl acc cs <<<"$a"
	want=$(expected "$lvl" "$acc" "$cs")
	got_p=$(read_as p "$how" "$arg")
	got_s=$(read_as s "$how" "$arg")
	check_eq "primary, $name: reads what SPEC §5 allows ($(summary "$want"))" "$want" "$got_p"
	check_eq "standby, $name: reads the same as on the primary" "$want" "$got_s"
done

# ---- 4. revocations reach the standby's open sessions ----------------------------
# S1: cu2 as the session's actor; S2: cu1; S3: logged in as ro_sb_mapped.
# Generic plans are forced, so the prepared statements run plans made before
# the revocations.
prepare='SET plan_cache_mode = force_generic_plan;
PREPARE sims AS SELECT count(*) FROM cmp.sim_card;
PREPARE custs AS SELECT count(*) FROM cmp.customer;
PREPARE grid AS SELECT count(*) FROM cmp.sim_grid;
SELECT sb.sim_count() \g /dev/null
EXECUTE sims \g /dev/null
EXECUTE sims \g /dev/null'
probe='EXECUTE sims;
EXECUTE custs;
EXECUTE grid;
SELECT sb.sim_count();
SELECT count(*) FROM cmp.sim_card;'
flat() { tr '\n' ' ' | sed 's/ $//'; }
sim_count_of() { # CUSTOMERS-ARRAY: SIMs on those customers, as the superuser
	pval "SELECT count(*) FROM cmp.sim_card WHERE customer_id = ANY ('$1'::bigint[])"
}
sess_open s1 "$(conn s "$app")"
sess_open s2 "$(conn s "$app")"
sess_open s3 "$(conn s ro_sb_mapped)"
sess s1 setup "SELECT cmp.set_actor($cu2, is_local => false) \\g /dev/null
$prepare" >/dev/null
sess s2 setup "SELECT cmp.set_actor($cu1, is_local => false) \\g /dev/null
$prepare
PREPARE status AS SELECT string_agg(status::text, ',') FROM cmp.customer;" >/dev/null
sess s3 setup "$prepare" >/dev/null
# S4: the admin user of cu1's customer, asking whether it may add users to it
c1_admin=$(pval "SELECT user_id FROM cmp.app_user WHERE login = 'sb_c1_admin'")
sess_open s4 "$(conn s "$app")"
sess s4 setup "SELECT cmp.set_actor($c1_admin, is_local => false) \\g /dev/null
SET plan_cache_mode = force_generic_plan;
PREPARE can AS SELECT cmp.actor_can('create_customer_user', $c1);
EXECUTE can \\g /dev/null" >/dev/null
check_eq "standby session of the customer's admin: cmp.actor_can('create_customer_user', its ACTIVE customer) is true" \
	t "$(sess s4 before 'EXECUTE can;')"
n2=$(sim_count_of "{$c1,$c2}") n1=$(sim_count_of "{$c1}") nr2=$(pval "SELECT count(*) FROM cmp.sim_card WHERE account_id = $r2")
check_eq "standby session of cu2 (session actor, statements prepared): its two customers' $n2 SIMs, 2 customers" \
	"$n2 2 $n2 $n2 $n2" "$(sess s1 before "$probe" | flat)"
check_eq "standby session of cu1: its customer's $n1 SIMs" "$n1 1 $n1 $n1 $n1" "$(sess s2 before "$probe" | flat)"
check_eq "standby session of the db_role-mapped ACCOUNT user: its account's $nr2 SIMs, 2 customers" \
	"$nr2 2 $nr2 $nr2 $nr2" "$(sess s3 before "$probe" | flat)"

as_acc1() { # SQL: on the primary, as the ACCOUNT admin of SB-1
	pq >>"$work/primary_changes.log" 2>&1 <<SQL
BEGIN;
SELECT cmp.set_actor($acc1);
$1;
COMMIT;
SQL
}
# What replication lag means: with replay paused, the standby has received
# the unassignment but not applied it, and its sessions still read what was
# allowed before; they honour it once it is replayed.
sval 'SELECT pg_wal_replay_pause()' >/dev/null
for ((i = 0; i < wait_max * 20; i++)); do
	[[ $(sval 'SELECT pg_get_wal_replay_pause_state()') == paused ]] && break
	sleep 0.05
done
as_acc1 "SELECT cmp.unassign_user_from_customers($cu2, ARRAY[$c2]::bigint[])" ||
	fail "unassign cu2 from one of its customers on the primary" "$work/primary_changes.log"
behind=$(pval 'SELECT pg_current_wal_lsn()')
for ((i = 0; i < wait_max * 20; i++)); do
	[[ $(sval "SELECT pg_last_wal_receive_lsn() >= '$behind'") == t ]] && break
	sleep 0.05
done
check_eq "replay paused: the standby has received the unassignment, not replayed it (the primary's pg_stat_replication shows the lag in bytes), and cu2's session still reads its $n2 SIMs" \
	"t t $n2 2 $n2 $n2 $n2" \
	"$(sval "SELECT pg_last_wal_replay_lsn() < '$behind'") $(pval 'SELECT pg_wal_lsn_diff(sent_lsn, replay_lsn) > 0 FROM pg_stat_replication') $(sess s1 lagging "$probe" | flat)"
sval 'SELECT pg_wal_replay_resume()' >/dev/null
replay_or_fail "after the unassignment"
check_eq "after the unassignment is replayed: cu2's open standby session, prepared statements, cached PL/pgSQL plan and a fresh SELECT show $n1 SIMs, 1 customer" \
	"$n1 1 $n1 $n1 $n1" "$(sess s1 unassigned "$probe" | flat)"
as_acc1 "SELECT cmp.set_user_status($cu2, 'LOCKED')" || fail "lock cu2 on the primary" "$work/primary_changes.log"
pq -c "SELECT cmp.set_user_status($mapped, 'LOCKED')" >>"$work/primary_changes.log" 2>&1 ||
	fail "lock the db_role-mapped user on the primary" "$work/primary_changes.log"
replay_or_fail "after the locks"
check_eq "after cu2 is LOCKED and replayed: its open standby session sees nothing (0 SIMs, 0 customers, 0 in the grid)" \
	"0 0 0 0 0" "$(sess s1 locked "$probe" | flat)"
check_eq "after the mapped user is LOCKED and replayed: the session logged in as its role sees nothing" \
	"0 0 0 0 0" "$(sess s3 locked "$probe" | flat)"
check_eq "after the lock is replayed, a new standby session can set cu2 neither by id (55000) nor by its still valid token (42501)" \
	"55000 after none|42501 after none" "$(refusal s "cmp.set_actor($cu2)")|$(refusal s "cmp.set_actor_token('$token_cu2')")"
as_acc1 "SELECT cmp.set_customer_status($c1, 'SUSPENDED', reason => 'standby test')" ||
	fail "suspend cu1's customer on the primary" "$work/primary_changes.log"
replay_or_fail "after the suspension"
check_eq "after cu1's customer is SUSPENDED and replayed: its open session sees it SUSPENDED, still with its $n1 SIMs (SPEC §3: read-only, not hidden)" \
	"SUSPENDED $n1 1 $n1 $n1 $n1" "$(sess s2 suspended "EXECUTE status;
$probe" | flat)"
check_eq "after the suspension is replayed: the admin's open session is told it may no longer add users to the customer (actor_can false; SUSPENDED is read-only to its users)" \
	f "$(sess s4 suspended 'EXECUTE can;')"
as_acc1 "SELECT cmp.set_customer_status($c1, 'TERMINATED', reason => 'standby test', release_sims => true)" ||
	fail "terminate cu1's customer on the primary" "$work/primary_changes.log"
replay_or_fail "after the termination"
check_eq "after cu1's only customer is TERMINATED (SIMs released) and replayed: its open session sees nothing" \
	"0 0 0 0 0" "$(sess s2 terminated "$probe" | flat)"
for n in s1 s2 s3 s4; do
	errs=$(grep -E '^(psql:.*)?(ERROR|FATAL|WARNING)' "$work/$n.out")
	check_eq "standby session $n ran every statement without an error or a warning" "" "$errs"
done

# ---- 5. writes on the standby fail cleanly ------------------------------------------
# write_state ROLE SETTER SQL: run SQL on the standby; w_state is its
# SQLSTATE (none when it succeeded), w_out what psql printed
write_state() {
	w_out=$(psql -X -q -At -v VERBOSITY=verbose -v ON_ERROR_STOP=1 -d "$(conn s "$1")" 2>&1 <<SQL
BEGIN;
$2
SELECT $3;
ROLLBACK;
SQL
)
	w_state=$(sqlstate_of "$w_out")
	w_state=${w_state:-none}
}
as1="SELECT cmp.set_actor($acc1) \\g /dev/null"
writes=(
	"$app|$as1|cmp.create_customer(account_id => $r1, name => 'Written on the standby')"
	"$app|$as1|cmp.update_customer($c3, '{\"description\": \"x\"}')"
	"$app|$as1|cmp.set_customer_status($c2, 'SUSPENDED')"
	"$app|$as1|cmp.delete_customer($c3)"
	"$app|$as1|cmp.create_customer_user(ARRAY[$c2]::bigint[], 'sb_new', 'new@sb.example')"
	"$app|$as1|cmp.assign_user_to_customers($cu1, ARRAY[$c2]::bigint[])"
	"$app|$as1|cmp.set_user_status($cu1, 'LOCKED')"
	"$app|$as1|cmp.assign_sims($c2, ARRAY[sb.iccid(30)])"
	"$app|$as1|cmp.unassign_sims(ARRAY[sb.iccid(11)])"
	"$app|$as1|cmp.assign_sim_range($c2, sb.iccid(31), sb.iccid(33))"
	"$app|$as1|cmp.assign_free_sims($c2, 2)"
	"$app|$as1|cmp.import_customers('[{\"account_id\": $r1, \"name\": \"Imported\"}]')"
	"$app|$as1|cmp.create_event_consumer('sb_standby')"
	"$app|$as1|(SELECT count(*) FROM cmp.read_events('sb_feed'))"
	"$app|$as1|cmp.ack_events('sb_feed', $feed_acked)"
	"$app|$as1|cmp.drop_event_consumer('sb_feed')"
	"postgres||cmp.create_account(account_number => 'SB-X', name => 'On the standby')"
	"postgres||cmp.create_user(login => 'sb_x', email => 'x@sb.example', context_level => 'CSP')"
	"postgres||cmp.provision_sims($r1, ARRAY[sb.iccid(500)])"
	"postgres||cmp.add_identity_key('sb-x', 'https://x.example', 'HS256', '$secret_b64')"
	"postgres||cmp.revoke_identity_key('$kid')"
	"postgres||cmp.purge_events('0 s')"
	"postgres||cmp.purge_requests()"
)
for w in "${writes[@]}"; do
	IFS='|' read -r role setter call <<<"$w"
	write_state "$role" "$setter" "$call"
	check_eq "standby: $(grep -o 'cmp\.[a-z_]*' <<<"$call" | head -n1) is refused as a write in a read-only transaction (25006)" \
		25006 "$w_state" "$w_out"
done
check_eq "the standby still runs, in recovery, with no server process lost (log: no PANIC, TRAP or terminated process)" \
	"t 0" "$(sval 'SELECT pg_is_in_recovery()') $(grep -cE 'PANIC|TRAP|terminated by signal|was terminated' "$standby/postgres.log")" \
	"$(grep -E 'PANIC|TRAP|terminated' "$standby/postgres.log" | head -5)"

# ---- 6. promotion -----------------------------------------------------------------------
# A last change on the primary the consumer has not acknowledged, then the
# failover: the primary stopped, the standby promoted.
as_acc1 "SELECT cmp.create_customer(account_id => $r1, name => 'Before the failover')" ||
	fail "a last change on the primary" "$work/primary_changes.log"
replay_or_fail "before the promotion"
maxes="SELECT (SELECT max(account_id) FROM cmp.account), (SELECT max(user_id) FROM cmp.app_user),
	(SELECT max(customer_id) FROM cmp.customer), (SELECT max(history_id) FROM cmp.customer_status_history),
	(SELECT max(history_id) FROM cmp.sim_assignment_history), (SELECT max(event_id) FROM cmp.audit_log),
	(SELECT max(event_id) FROM cmp.event), (SELECT max(customer_number) FROM cmp.customer WHERE account_id = $r1)"
IFS='|' read -r m_acc m_user m_cust m_csh m_sah m_audit m_event m_num < <(sval "$maxes")
check_eq "before the promotion the standby holds what the primary holds" "$(pval "$maxes")" \
	"$m_acc|$m_user|$m_cust|$m_csh|$m_sah|$m_audit|$m_event|$m_num"
cluster_stop "$primary" >/dev/null 2>&1
primary=''
as_pg "$RO_PG_BINDIR/pg_ctl" -D "$standby/data" -w -t 60 promote >"$work/promote.log" 2>&1 ||
	fail "pg_ctl promote" "$work/promote.log"
check_eq "the standby is promoted: no longer in recovery, writable" "f off" \
	"$(sval "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')" | tr '|' ' ')"

pv() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$(conn s)" 2>&1; }
pv >"$work/after.log" <<SQL || fail "changes on the promoted server" "$work/after.log"
SELECT cmp.create_account(account_number => 'SB-3', name => 'After the failover') \\g /dev/null
SELECT cmp.create_user(login => 'sb_csp_2', email => 'csp2@sb.example', context_level => 'CSP') \\g /dev/null
SELECT cmp.provision_sims($r1, array(SELECT sb.iccid(g) FROM generate_series(201, 205) g)) \\g /dev/null
BEGIN;
SELECT cmp.set_actor($acc1) \\g /dev/null
SELECT cmp.create_customer(account_id => $r1, name => 'After the failover', status => 'ACTIVE',
	admin_login => 'sb_after_admin', admin_email => 'after@sb.example') AS new_c \\gset
SELECT cmp.assign_sims(:new_c, array(SELECT sb.iccid(g) FROM generate_series(201, 205) g)) \\g /dev/null
COMMIT;
SELECT 'new', :new_c, customer_number FROM cmp.customer WHERE customer_id = :new_c;
SQL
IFS='|' read -r _ _ new_num < <(grep '^new|' "$work/after.log")
check_eq "on the promoted server, create_customer in SB-1 gets the next customer number ($m_num + 1)" \
	"$((m_num + 1))" "${new_num:-?}" "$(cat "$work/after.log")"
check_eq "the ids made on the promoted server are above every replicated one (accounts, users, customers, status and SIM history, audit, events)" \
	"1 1 1 1 1 1 1" \
	"$(sval "SELECT (SELECT count(*) FROM cmp.account WHERE account_id > $m_acc),
		(SELECT (count(*) = 2)::int FROM cmp.app_user WHERE user_id > $m_user AND login IN ('sb_csp_2', 'sb_after_admin')),
		(SELECT count(*) FROM cmp.customer WHERE customer_id > $m_cust),
		(SELECT count(*) FROM cmp.customer_status_history WHERE history_id > $m_csh),
		(SELECT (count(*) = 5)::int FROM cmp.sim_assignment_history WHERE history_id > $m_sah),
		(SELECT (count(*) = 5)::int FROM cmp.audit_log WHERE event_id > $m_audit),
		(SELECT (count(*) = 5)::int FROM cmp.event WHERE event_id > $m_event)" | tr '|' ' ')"
check_eq "no duplicate customer number in any account, no duplicate audit or event id" "0 0 0" \
	"$(sval "SELECT (SELECT count(*) FROM (SELECT 1 FROM cmp.customer GROUP BY account_id, customer_number HAVING count(*) > 1) d),
		(SELECT count(*) - count(DISTINCT event_id) FROM cmp.audit_log),
		(SELECT count(*) - count(DISTINCT event_id) FROM cmp.event)" | tr '|' ' ')"

# The consumer made on the primary: the replicated events it had not
# acknowledged, then the promoted server's, in commit (event_id) order.
want_feed=$(sval "SELECT string_agg(event_id || ' ' || event_type, ', ' ORDER BY event_id) FROM cmp.event
	WHERE account_id = $r1 AND event_id > $feed_acked")
feed_out=$(pv <<SQL
BEGIN;
SELECT cmp.set_actor($acc1) \\g /dev/null
SELECT string_agg(event_id || ' ' || event_type, ', ' ORDER BY event_id),
	count(*) FILTER (WHERE event_id <= $m_event), count(*) FILTER (WHERE event_id > $m_event) FROM cmp.read_events('sb_feed');
COMMIT;
SQL
)
IFS='|' read -r got_feed n_old n_new <<<"$feed_out"
check_eq "the primary's consumer, read on the promoted server: $n_old replicated unacknowledged events, then $n_new new ones, in order" \
	"$want_feed" "$got_feed" "$feed_out"
check_eq "both kinds are there (replicated events after the acknowledgement, events of the promoted server)" \
	"yes yes" "$([[ ${n_old:-0} -gt 0 ]] && echo yes || echo no) $([[ ${n_new:-0} -gt 0 ]] && echo yes || echo no)"
last_id=$(sval "SELECT max(event_id) FROM cmp.event WHERE account_id = $r1")
check_eq "acknowledged on the promoted server, nothing is delivered again" "$((n_old + n_new)) 0" \
	"$(pv <<SQL | tr '\n' ' ' | sed 's/ $//'
BEGIN;
SELECT cmp.set_actor($acc1) \\g /dev/null
SELECT cmp.ack_events('sb_feed', $last_id);
SELECT count(*) FROM cmp.read_events('sb_feed');
COMMIT;
SQL
)"
finish
