#!/usr/bin/env bash
# test/suites/event_decoding.sh -- SPEC §11: the change feed streamed out by
# logical decoding with wal2json, as a CDC tool (Debezium and the like)
# reads it: a logical replication slot, filtered to the table cmp.event.
#
# Logical decoding needs wal_level = logical, which the test cluster does not
# run with, so this suite starts a throwaway cluster of its own
# (tools/cluster.sh, port RO_DECODING_PORT, default 55491, unix socket in
# its own directory) and stops it on exit; the caller's PGHOST/PGPORT
# cluster is not touched.  PostgreSQL 15.19 and later refuse output plugins
# not listed in output_plugin_libraries: where that setting exists, wal2json
# is added to it.
#
#   1. A database with two RESELLER accounts, their ACCOUNT admins and SIMs,
#      made through the functions; then the slot (wal2json).
#   2. Changes through the cmp.* functions: a transaction A that begins,
#      writes two events (create_customer, assign_sims) and waits, while
#      B writes and commits; then A commits (two psql sessions, A fed from a
#      fifo).  A transaction that rolls back; one with a savepoint rolled
#      back; four writers at once, each committing 15 transactions.
#   3. The slot read with format-version 2 and add-tables = cmp.event:
#      nothing but INSERTs into cmp.event (and in the unfiltered stream one
#      INSERT into cmp.event per event), every event committed since the
#      slot was made exactly once, in event_id order, with its type, payload
#      and other columns; B's event before A's, A's two in one transaction
#      with consecutive ids; nothing of the rolled-back work.
#   4. A purge (the DELETE cmp.purge_events makes) appears as DELETEs of
#      cmp.event, which the wal2json option actions = insert leaves out.  What the slot costs: unread, it
#      holds its restart_lsn (and so the WAL after it) while changes are
#      made; the slot is dropped.
#
# Needs postgresql-15-wal2json (tools/setup.sh installs it).  Bounded: about
# 10 s; every wait gives up after RO_DECODING_WAIT seconds.  Prints
# `ok - ...` / `not ok - ...` and ends with `N passed, M failed`.
set -uo pipefail
export LC_ALL=C

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/report.sh
source "$repo/test/suites/lib/report.sh"
wait_max=${RO_DECODING_WAIT:-20}
writers=4 per_writer=15
slot=event_feed

# The caller's cluster, if any, is left alone: cluster_start exports
# PGHOST/PGPORT/RO_CLUSTER_DIR in this process only, and only the directory
# cluster_start made here is ever stopped.
caller_dir=${RO_CLUSTER_DIR:-}
unset RO_CLUSTER_DIR
export RO_PORT=${RO_DECODING_PORT:-55491}
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"

passed=0 failed=0
work=$(mktemp -d /tmp/ro_dec.XXXXXX)
chmod 755 "$work"
ours='' a_pid=''
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	{ exec 3>&-; } 2>/dev/null
	[[ -n $a_pid ]] && kill "$a_pid" 2>/dev/null
	[[ -n $ours && $ours != "$caller_dir" ]] && cluster_stop "$ours" >/dev/null 2>&1
	[[ -n ${RO_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
finish() { echo "$passed passed, $failed failed"; exit 0; }
fail() { not_ok "$1" "$(tail -20 "${2:-/dev/null}" 2>/dev/null)"; finish; }

[[ -e $("$RO_PG_BINDIR/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)/wal2json.so ]] ||
	fail "postgresql-15-wal2json is installed (tools/setup.sh installs it)"

opts=(-c wal_level=logical -c max_replication_slots=4 -c max_wal_senders=4
	-c session_preload_libraries=reseller_onboarding)
settings=$(as_pg "$RO_PG_BINDIR/postgres" --describe-config 2>/dev/null)
if grep -q '^output_plugin_libraries' <<<"$settings"; then
	opts+=(-c 'output_plugin_libraries=pgoutput, test_decoding, wal2json')
fi
cluster_start "${opts[@]}" >"$work/cluster.log" 2>&1
rc=$?
ours=${RO_CLUSTER_DIR:-}
((rc == 0)) || fail "a cluster of our own starts with wal_level = logical" "$work/cluster.log"
check_eq "a cluster of our own (port $PGPORT, not the caller's) runs with wal_level = logical" \
	"logical yes" "$(psql -X -At -d postgres -c 'SHOW wal_level') $([[ $PGHOST != "$caller_dir" ]] && echo yes)"

db=decoding
createdb "$db" || fail "createdb"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
val() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1" 2>/dev/null; }

# ---- 1. the fixture, then the slot -----------------------------------------
q -v luhn="$repo/test/fixtures/luhn.sql" -v slot="$slot" >"$work/setup.log" 2>&1 <<'SQL' || fail "fixture and slot" "$work/setup.log"
CREATE EXTENSION reseller_onboarding;
\i :luhn
SELECT cmp.create_account(account_number => 'DEC-1', name => 'Decoding One', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS r1 \gset
SELECT cmp.create_account(account_number => 'DEC-2', name => 'Decoding Two', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS r2 \gset
SELECT cmp.create_user(login => 'dec_admin_1', email => 'admin1@dec.example', context_level => 'ACCOUNT',
	account_id => :r1, is_admin => true) AS a1 \gset
SELECT cmp.create_user(login => 'dec_admin_2', email => 'admin2@dec.example', context_level => 'ACCOUNT',
	account_id => :r2, is_admin => true) AS a2 \gset
SELECT cmp.provision_sims(account_id => :r1,
	iccids => array(SELECT pg_temp.luhn('8949' || lpad(g::text, 14, '0')) FROM generate_series(1, 200) g));
SELECT cmp.provision_sims(account_id => :r2,
	iccids => array(SELECT pg_temp.luhn('8949' || lpad(g::text, 14, '0')) FROM generate_series(1001, 1200) g));
-- the months of cmp.event (SPEC §14): the stream names the partition a row
-- is in (cmp.event_pYYYY_MM, cmp.event_default), not cmp.event
CALL cmp.maintain_partitions(months_ahead => 1);
SELECT max(event_id) AS before FROM cmp.event \gset
SELECT slot_name FROM pg_create_logical_replication_slot(:'slot', 'wal2json');
\echo :r1 :r2 :a1 :a2 :before
SQL
read -r r1 r2 a1 a2 before < <(tail -n1 "$work/setup.log")
ok "the fixture (events 1 .. $before) and a wal2json slot made after it"
# wal2json's table filter: the partitions of cmp.event, as a consumer lists
# them (README "Change feed": logical decoding)
evtables=$(val "SELECT string_agg('cmp.' || c.relname, ',' ORDER BY c.relname)
	FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'cmp.event'::regclass")
evre='^event_(default|p[0-9]{4}_[0-9]{2})$'

# ---- 2. changes through the functions ----------------------------------------
# A: begins first, writes two events, and waits for B to commit
mkfifo "$work/a.in"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" <"$work/a.in" >"$work/a.out" 2>"$work/a.err" &
a_pid=$!
exec 3>"$work/a.in"
cat >&3 <<SQL
\\i $repo/test/fixtures/luhn.sql
BEGIN;
SELECT cmp.set_actor($a1) \\gset
SELECT cmp.create_customer(account_id => $r1, name => 'Decoding A', status => 'ACTIVE',
	admin_login => 'dec_a', admin_email => 'a@dec.example') AS cid \\gset
SELECT cmp.assign_sims(customer_id => :cid, iccids => array(
	SELECT pg_temp.luhn('8949' || lpad(g::text, 14, '0')) FROM generate_series(1, 5) g)) \\gset
\\echo a_wrote
SQL
for ((i = 0; i < wait_max * 20; i++)); do grep -q '^a_wrote$' "$work/a.out" && break; sleep 0.05; done
grep -q '^a_wrote$' "$work/a.out" || fail "transaction A writes its events" "$work/a.err"

q >"$work/b.log" 2>&1 <<SQL || fail "transaction B commits while A is open" "$work/b.log"
BEGIN;
SELECT cmp.set_actor($a2) \\gset
SELECT cmp.create_customer(account_id => $r2, name => 'Decoding B') \\gset
COMMIT;
SQL
check_eq "B committed while A was open (A still waiting in its transaction)" "idle in transaction" \
	"$(val "SELECT state FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = '$db' AND backend_type = 'client backend'")"

printf '%s\n' 'COMMIT;' '\echo a_committed' '\q' >&3
exec 3>&-
wait "$a_pid"
a_rc=$?
a_pid=
check_eq "A committed after B" "0 a_committed" "$a_rc $(tail -n1 "$work/a.out")" "$(cat "$work/a.err")"

q >"$work/more.log" 2>&1 <<SQL || fail "the rolled-back and savepoint transactions" "$work/more.log"
BEGIN;
SELECT cmp.set_actor($a1) \\gset
SELECT cmp.create_customer(account_id => $r1, name => 'Decoding rolled back') \\gset
ROLLBACK;
BEGIN;
SELECT cmp.set_actor($a1) \\gset
SELECT cmp.create_customer(account_id => $r1, name => 'Decoding kept') \\gset
SAVEPOINT s;
SELECT cmp.create_customer(account_id => $r1, name => 'Decoding undone') \\gset
ROLLBACK TO SAVEPOINT s;
COMMIT;
SQL

# four writers at once, alternating accounts, a random pause before COMMIT
for ((w = 1; w <= writers; w++)); do
	for ((i = 1; i <= per_writer; i++)); do
		if (((w + i) % 2)); then acct=$r1 admin=$a1; else acct=$r2 admin=$a2; fi
		cat <<SQL
BEGIN;
SELECT cmp.set_actor($admin) \\gset
SELECT cmp.create_customer(account_id => $acct, name => 'Decoding $w-$i') AS cid \\gset
$( ((i % 3 == 0)) && echo "SELECT cmp.update_customer(customer_id => :cid, changes => '{\"name\": \"Decoding $w-$i renamed\"}') \\gset")
SELECT pg_sleep(random() * 0.02) \\gset
COMMIT;
SQL
	done >"$work/writer.$w.sql"
done
pids=()
for ((w = 1; w <= writers; w++)); do
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -f "$work/writer.$w.sql" >"$work/writer.$w.out" 2>&1 &
	pids+=($!)
done
wrote=0
for pid in "${pids[@]}"; do wait "$pid" && wrote=$((wrote + 1)); done
check_eq "$writers writers committed $per_writer transactions each" "$writers" "$wrote" "$(cat "$work"/writer.*.out | head -5)"
newest=$(val "SELECT max(event_id) FROM cmp.event")
echo "# events $((before + 1)) .. $newest committed since the slot was made"

# ---- 3. the stream --------------------------------------------------------------
# One session: the unfiltered stream peeked at (a control), then the filtered
# one read (consumed), both kept in temporary tables, which logical decoding
# does not see; each check prints `bad|what|detail`.
q -F '|' -v slot="$slot" -v evtables="$evtables" -v evre="$evre" -v before="$before" -v a="Decoding A" -v b="Decoding B" >"$work/checks" 2>&1 <<'SQL'
CREATE TEMP TABLE raw_all AS
	SELECT n, data::jsonb AS j FROM pg_logical_slot_peek_changes(:'slot', NULL, NULL, 'format-version', '2')
	WITH ORDINALITY AS t(lsn, xid, data, n);
CREATE TEMP TABLE raw_ev AS
	SELECT n, data::jsonb AS j FROM pg_logical_slot_get_changes(:'slot', NULL, NULL, 'format-version', '2',
		'add-tables', :'evtables') WITH ORDINALITY AS t(lsn, xid, data, n);
-- the filtered stream: one row per action, with its transaction block and columns
CREATE TEMP TABLE s AS
	SELECT n, j->>'action' AS action, j->>'schema' AS sch, j->>'table' AS tab,
	       sum((j->>'action' = 'B')::int) OVER (ORDER BY n) AS block,
	       (SELECT jsonb_object_agg(c->>'name', c->'value') FROM jsonb_array_elements(j->'columns') c) AS col
	  FROM raw_ev;
CREATE TEMP TABLE se AS
	SELECT n, block, (col->>'event_id')::bigint AS event_id, col FROM s WHERE action = 'I' AND tab ~ :'evre';
CREATE TEMP TABLE want AS SELECT * FROM cmp.event WHERE event_id > :before;
CREATE TEMP TABLE a_ids AS SELECT event_id FROM want WHERE payload->'new'->>'name' = :'a' OR customer_id IN
	(SELECT customer_id FROM want WHERE payload->'new'->>'name' = :'a');

SELECT count(*), 'the filtered stream holds only INSERTs into cmp.event, between BEGIN and COMMIT',
       string_agg(DISTINCT action || ' ' || coalesce(sch || '.' || tab, ''), ', ')
  FROM s WHERE action NOT IN ('B', 'C') AND NOT (action = 'I' AND sch = 'cmp' AND tab ~ :'evre');
SELECT (c_e <> n)::int,
       'even without the filter, the stream shows one INSERT into cmp.event per event',
       format('%s events, %s INSERTs into cmp.event', n, c_e)
  FROM (SELECT count(*) FILTER (WHERE j->>'table' ~ :'evre' AND j->>'action' = 'I') AS c_e
          FROM raw_all WHERE j->>'schema' = 'cmp') p,
       (SELECT count(*) AS n FROM want) w;
SELECT (g IS DISTINCT FROM w)::int,
       format('every event committed since the slot was made is in the stream exactly once, in event_id order (%s events)',
              (SELECT count(*) FROM want)),
       format('stream: %s; table: %s', left(g, 200), left(w, 200))
  FROM (SELECT string_agg(event_id::text, ' ' ORDER BY n) AS g FROM se) a,
       (SELECT string_agg(event_id::text, ' ' ORDER BY event_id) AS w FROM want) b;
SELECT count(*), 'the event_ids strictly increase along the stream: decoding (commit) order is event_id order', ''
  FROM (SELECT event_id, lag(event_id) OVER (ORDER BY n) AS prev FROM se) x WHERE event_id <= prev;
SELECT count(*), 'each INSERT carries its event''s event_type, payload and other columns', string_agg(se.event_id::text, ' ')
  FROM se LEFT JOIN want e USING (event_id)
 WHERE e.event_id IS NULL
    OR se.col->>'event_type' IS DISTINCT FROM e.event_type
    OR (se.col->>'payload')::jsonb IS DISTINCT FROM e.payload
    OR (se.col->>'occurred_at')::timestamptz IS DISTINCT FROM e.occurred_at
    OR (se.col->>'account_id')::bigint IS DISTINCT FROM e.account_id
    OR (se.col->>'customer_id')::bigint IS DISTINCT FROM e.customer_id
    OR se.col->>'resource_type' IS DISTINCT FROM e.resource_type
    OR se.col->>'resource_id' IS DISTINCT FROM e.resource_id
    OR (se.col->>'actor_user_id')::bigint IS DISTINCT FROM e.actor_user_id;
SELECT (string_agg(col->>'event_type', ' ' ORDER BY n) IS DISTINCT FROM 'customer.created sims.assigned'
        OR count(DISTINCT block) <> 1 OR max(event_id) - min(event_id) <> 1)::int,
       'A''s two events (customer.created, sims.assigned) are one transaction in the stream, with consecutive ids',
       string_agg(event_id || ' ' || (col->>'event_type') || ' block ' || block, ', ' ORDER BY n)
  FROM se WHERE event_id IN (SELECT event_id FROM a_ids);
SELECT (NOT (b.event_id < a.first AND b.n < a.first_n AND b.occurred_at > a.occurred_at))::int,
       'B, begun after A but committed first, comes first in the stream and has the smaller event_id',
       format('B: event %s at %s; A: events from %s at %s', b.event_id, b.n, a.first, a.first_n)
  FROM (SELECT se.event_id, se.n, w.occurred_at FROM se JOIN want w USING (event_id)
         WHERE w.payload->'new'->>'name' = :'b') b,
       (SELECT min(se.event_id) AS first, min(se.n) AS first_n, min(w.occurred_at) AS occurred_at
          FROM se JOIN want w USING (event_id) WHERE event_id IN (SELECT event_id FROM a_ids)) a;
SELECT count(*), 'each transaction''s events have consecutive event_ids, nothing of another between', ''
  FROM (SELECT block FROM se GROUP BY block HAVING max(event_id) - min(event_id) + 1 <> count(*)) x;
SELECT count(*), 'nothing of the rolled-back transaction or of the savepoint rolled back', string_agg(event_id::text, ' ')
  FROM se WHERE col->>'payload' LIKE '%Decoding rolled back%' OR col->>'payload' LIKE '%Decoding undone%';
SELECT (count(*) <> 1)::int, 'the event before the rolled-back savepoint is there, once', count(*)::text
  FROM se WHERE (col->>'payload')::jsonb->'new'->>'name' = 'Decoding kept';
SELECT count(*), 'read once, the slot is consumed: reading again gives no event', ''
  FROM pg_logical_slot_get_changes(:'slot', NULL, NULL, 'format-version', '2', 'add-tables', :'evtables') c
 WHERE c.data::jsonb->>'action' = 'I';
SQL
if ! grep -q '|' "$work/checks"; then
	not_ok "the stream is read and checked" "$(head -20 "$work/checks")"
else
	grep -v '|' "$work/checks" | head -5 | sed 's/^/# /'
	while IFS='|' read -r bad what detail; do
		if [[ $bad == 0 ]]; then ok "$what"; else not_ok "$what" "$detail"; fi
	done < <(grep '|' "$work/checks")
fi

# ---- 4. purges, and what the slot costs ---------------------------------------------
# What cmp.purge_events deletes, deleted the way it does (one DELETE of the
# acknowledged events of cmp.event), as the superuser: what matters here is
# how a purge looks in the stream.
purged=$(val "WITH d AS (DELETE FROM cmp.event WHERE event_id <= $newest RETURNING 1) SELECT count(*) FROM d")
read -r dels ins rest < <(val "SELECT count(*) FILTER (WHERE j->>'action' = 'D' AND j->'identity'->0->>'name' = 'event_id'),
	count(*) FILTER (WHERE j->>'action' = 'I')
	FROM (SELECT data::jsonb AS j FROM pg_logical_slot_peek_changes('$slot', NULL, NULL, 'format-version', '2',
		'add-tables', '$evtables')) c" | tr '|' ' ')
check_eq "a purge of $purged events shows in the stream as one DELETE of cmp.event per event, by event_id, and no INSERT" \
	"$purged 0" "${dels:-?} ${ins:-?}"
check_eq "with actions = insert, the purge leaves the stream empty" 0 \
	"$(val "SELECT count(*) FROM pg_logical_slot_get_changes('$slot', NULL, NULL, 'format-version', '2',
		'add-tables', '$evtables', 'actions', 'insert') WHERE data::jsonb->>'action' NOT IN ('B', 'C')")"
slot_lsn() { val "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '$slot'"; }
pinned=$(slot_lsn)
wal0=$(val 'SELECT pg_current_wal_lsn()')
q >"$work/cost.log" 2>&1 <<SQL || not_ok "200 more changes" "$(tail -5 "$work/cost.log")"
BEGIN;
SELECT cmp.set_actor($a1) \\gset
SELECT count(cmp.create_customer(account_id => $r1, name => 'Unread ' || g)) FROM generate_series(1, 200) g \\gset
COMMIT;
CHECKPOINT;
SQL
held=$(val "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE slot_name = '$slot'")
written=$(val "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')")
check_eq "unread, the slot keeps its restart_lsn through 200 changes and a checkpoint: it holds $((${held:-0} / 1024)) kB of WAL (those changes wrote $((${written:-0} / 1024)) kB)" \
	"$pinned" "$(slot_lsn)"
q -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>"$work/drop.log"
check_eq "the slot is dropped (a forgotten slot holds WAL without limit)" 0 \
	"$(val 'SELECT count(*) FROM pg_replication_slots')" "$(cat "$work/drop.log")"
finish
