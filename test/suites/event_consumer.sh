#!/usr/bin/env bash
# test/suites/event_consumer.sh -- SPEC §11: a real consumer of the change
# feed, examples/node/consumer.js (node-postgres), on a direct connection:
# it sets its actor once for the session, creates its consumer, LISTENs on
# cmp_events and drains with read_events / ack_events in one transaction at
# a time.  See examples/node/README.md.
#
# Here: a database of our own on the test cluster ($PGHOST/$PGPORT) with two
# RESELLER accounts, their ACCOUNT admins and free SIMs, made through the
# functions; a login role that may call cmp.set_actor and nothing else (no
# pgbouncer: LISTEN needs a session of its own); `npm ci` of the example.
#
#   1. The consumer starts as account 1's admin (safety-net timeout 30 s).
#      Four psql writers at once, as the admins of both accounts, create
#      customers, assign them SIMs and suspend some, in transactions that
#      commit in an order of their own, plus one rolled back and one failing.
#      The consumer must receive every event of account 1 exactly once, in
#      event_id order, with its type, and none of account 2.
#   2. Woken by NOTIFY: single changes of account 1 reach the consumer
#      within 2 s of the commit, through a drain woken by a notification.
#   3. The position persists: acked_event_id is the last event received; the
#      consumer is stopped (SIGTERM), changes are made in both accounts, and
#      a new one receives only those of account 1 made since, nothing
#      older, and then new ones as they commit.
#
# Bounded: about 10 s; every wait gives up after RO_EVENT_WAIT seconds.
# Prints `ok - ...` / `not ok - ...` and ends with `N passed, M failed`.
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"
db=ro_evc_$$
role=event_app_$$
wait_max=${RO_EVENT_WAIT:-20}
writers=4 per_writer=12
consumer_pid=

stop_consumer() { # stop_consumer: SIGTERM, wait; sets consumer_rc
	consumer_rc=
	[[ -n $consumer_pid ]] || return
	kill -TERM "$consumer_pid" 2>/dev/null
	wait "$consumer_pid"
	consumer_rc=$?
	consumer_pid=
}

q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
val() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1" 2>/dev/null; }
# two lists of lines are the same; on a difference, the first lines of the diff
check_same() { # check_same NAME WANT GOT
	if [[ $2 == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1" "expected $(grep -c . <<<"$2") lines, got $(grep -c . <<<"$3"); diff (< expected, > got):" \
			"$(diff <(echo "$2") <(echo "$3") | grep '^[<>]' | head -10)"
	fi
}

require_node_npm
scratch_workdir ro_evc

scratch_db_and_role
q -v role="$role" -v luhn="$repo/test/fixtures/luhn.sql" >"$work/setup.log" 2>&1 <<'SQL' || fail "fixture" "$work/setup.log"
\i :luhn
CREATE FUNCTION pg_temp.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;
SELECT cmp.create_account(account_number => 'EVC-1', name => 'Feed Reseller One', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS r1 \gset
SELECT cmp.create_account(account_number => 'EVC-2', name => 'Feed Reseller Two', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS r2 \gset
SELECT cmp.create_user(login => 'evc_admin_1', email => 'admin1@evc.example', context_level => 'ACCOUNT',
	account_id => :r1, is_admin => true) AS a1 \gset
SELECT cmp.create_user(login => 'evc_admin_2', email => 'admin2@evc.example', context_level => 'ACCOUNT',
	account_id => :r2, is_admin => true) AS a2 \gset
SELECT cmp.provision_sims(account_id => :r1, iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(1, 500) g));
SELECT cmp.provision_sims(account_id => :r2, iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(1001, 1500) g));
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"role";
\echo :r1 :r2 :a1 :a2
SQL
read -r r1 r2 a1 a2 < <(tail -n1 "$work/setup.log")

# the example, with its locked dependencies, in a copy of its own
scratch_npm_ci "$repo/examples/node" "$work/app"

start_consumer() { # start_consumer RUN: output in $work/run.RUN.{out,err}
	: >"$work/run.$1.out"
	(cd "$work/app" && exec env PGDATABASE="$db" PGUSER="$role" CONSUMER_USER="$a1" CONSUMER_NAME=feed \
		BATCH=7 SAFETY_TIMEOUT_MS=30000 node consumer.js) >"$work/run.$1.out" 2>"$work/run.$1.err" &
	consumer_pid=$!
}
wait_line() { # wait_line FILE ERE: wait for a line matching ERE
	local i
	for ((i = 0; i < wait_max * 20; i++)); do
		grep -Eqs "$2" "$1" && return 0
		[[ -n $consumer_pid ]] && ! kill -0 "$consumer_pid" 2>/dev/null && { grep -Eqs "$2" "$1"; return; }
		sleep 0.05
	done
	return 1
}
received() { awk '$1 == "event" {print $2}' "$work/run.$1.out"; }            # ids, as received
received_typed() { awk '$1 == "event" {print $2, $3}' "$work/run.$1.out"; } # id type, as received
account1_events() { # account1_events AFTER: id type of account 1's events above AFTER
	val "SELECT event_id || ' ' || event_type FROM cmp.event WHERE account_id = $r1 AND event_id > $1 ORDER BY event_id"
}
caught_up() { # caught_up RUN: the consumer has received account 1's newest event
	local newest
	newest=$(val "SELECT max(event_id) FROM cmp.event WHERE account_id = $r1")
	wait_line "$work/run.$1.out" "^event $newest "
}
# one change of an account, as its admin; prints the event_id of its event
# and the time (ms since the epoch) just before its COMMIT
change() { # change ACCOUNT ADMIN NAME
	q -v acct="$1" -v admin="$2" -v name="$3" <<'SQL'
BEGIN;
SELECT cmp.set_actor(:admin) \gset
SELECT cmp.create_customer(account_id => :acct, name => :'name') AS cid \gset
SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS t_commit \gset
COMMIT;
SELECT event_id, :t_commit FROM cmp.event WHERE event_type = 'customer.created' AND resource_id = :'cid';
SQL
}
# a change of account 1 reaches the consumer within 2 s, woken by NOTIFY
probe() { # probe RUN NAME
	local run=$1 t0 id at n why i
	read -r id t0 < <(change "$r1" "$a1" "$2" | tr '|' ' ')
	if [[ -z $id ]] || ! wait_line "$work/run.$run.out" "^event $id "; then
		not_ok "$2: the consumer receives the event of a change of account 1 (event ${id:-?})" "$(tail -5 "$work/run.$run.out")"
		return
	fi
	at=$(awk -v id="$id" '$1 == "event" && $2 == id {print $6}' "$work/run.$run.out")
	n=$(grep -n -m1 "^event $id " "$work/run.$run.out" | cut -d: -f1)
	for ((i = 0; i < 40; i++)); do
		why=$(tail -n +"$n" "$work/run.$run.out" | awk '$1 == "drain" {print $2; exit}')
		[[ -n $why ]] && break
		sleep 0.05
	done
	if ((at - t0 < 2000)) && [[ $why == notify ]]; then
		ok "$2: event $id received $((at - t0)) ms after its COMMIT began, by a drain woken by NOTIFY (safety net: 30 s)"
	else
		not_ok "$2: event $id received within 2 s of the commit, by a drain woken by NOTIFY" \
			"received after $((at - t0)) ms, drain woken by: ${why:-?}"
	fi
}

# ---- 1. the consumer, and writers in both accounts ---------------------------
start_consumer 1
wait_line "$work/run.1.out" '^ready ' || fail "the consumer starts (LISTEN, first drain, ready)" "$work/run.1.err"
ok "the consumer starts as account $r1's ACCOUNT admin $a1, creates its consumer, LISTENs and drains: $(grep '^drain start' "$work/run.1.out")"

# Writer W, step I: account 1 for odd W+I, else account 2.  A customer with
# its admin, 3 SIMs assigned to it, suspended every third step; a random
# pause before COMMIT so that the writers' commits interleave.
for ((w = 1; w <= writers; w++)); do
	{
		echo '\set ON_ERROR_STOP 1'
		echo '\i :luhn'
		for ((i = 1; i <= per_writer; i++)); do
			if (((w + i) % 2)); then acct=$r1 admin=$a1 base=0; else acct=$r2 admin=$a2 base=1000; fi
			n=$(((w - 1) * per_writer + i))
			first=$((base + (n - 1) * 3 + 1))
			cat <<SQL
BEGIN;
SELECT cmp.set_actor($admin) \\gset
SELECT cmp.create_customer(account_id => $acct, name => 'Feed $w-$i', status => 'ACTIVE',
	admin_login => 'feed_${w}_$i', admin_email => 'feed_${w}_$i@evc.example') AS cid \\gset
SELECT cmp.assign_sims(customer_id => :cid, iccids => array(
	SELECT pg_temp.luhn('8949' || lpad(g::text, 14, '0')) FROM generate_series($first, $((first + 2))) g)) \\gset
$( ((i % 3 == 0)) && echo "SELECT cmp.set_customer_status(customer_id => :cid, status => 'SUSPENDED') \\gset")
SELECT pg_sleep(random() * 0.03);
COMMIT;
SQL
		done
		# rolled back, and failing: no event of either
		cat <<SQL
BEGIN;
SELECT cmp.set_actor($a1) \\gset
SELECT cmp.create_customer(account_id => $r1, name => 'Feed rolled back $w') \\gset
ROLLBACK;
\\set ON_ERROR_STOP 0
BEGIN;
SELECT cmp.set_actor($a1) \\gset
SELECT cmp.set_customer_status(customer_id => -1, status => 'ACTIVE');
COMMIT;
SQL
	} >"$work/writer.$w.sql"
done
pids=()
for ((w = 1; w <= writers; w++)); do
	psql -X -q -At -v luhn="$repo/test/fixtures/luhn.sql" -d "$db" -f "$work/writer.$w.sql" \
		>"$work/writer.$w.out" 2>"$work/writer.$w.err" &
	pids+=($!)
done
wrote=0
for pid in "${pids[@]}"; do wait "$pid" && wrote=$((wrote + 1)); done
errors=$(cat "$work"/writer.*.err)
check_eq "$writers writers in both accounts ran (${per_writer} transactions each, a rollback and a failing call)" \
	"$writers $writers" "$wrote $(grep -c 'ERROR:  customer -1 does not exist' <<<"$errors")" "$(head -8 <<<"$errors")"
echo "# events: $(val "SELECT string_agg(format('%s of account %s', n, account_id), ', ' ORDER BY account_id)
	FROM (SELECT account_id, count(*) AS n FROM cmp.event GROUP BY 1) x")"

caught_up 1 || not_ok "the consumer catches up with account $r1's newest event" "$(tail -5 "$work/run.1.out")"
want=$(account1_events 0)
got=$(received_typed 1)
check_same "the consumer received every event of account $r1, exactly once, in event_id order, with its type ($(grep -c . <<<"$want") events)" \
	"$want" "$got"
dups=$(received 1 | sort | uniq -d | wc -l)
check_eq "no event was received twice" 0 "$dups"
sorted=$(received 1 | sort -n -c 2>&1 && echo sorted)
check_eq "the events arrived in increasing event_id order" sorted "$sorted"
others=$(val "SELECT count(*) FROM cmp.event WHERE account_id IS DISTINCT FROM $r1
	AND event_id = ANY ('{$(received 1 | paste -sd, -)}'::bigint[])")
check_eq "none of the events received is of account $r2 (or of no account)" 0 "$others"
check_eq "the rolled-back and failed transactions wrote no event" 0 \
	"$(val "SELECT count(*) FROM cmp.event WHERE payload::text LIKE '%rolled back%'")"

# ---- 2. woken by NOTIFY -------------------------------------------------------
for k in 1 2 3; do probe 1 "notify $k"; done
echo "# drains of run 1: $(awk '$1 == "drain" {print $2}' "$work/run.1.out" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')"

# ---- 3. the position persists --------------------------------------------------
last=$(received 1 | tail -n1)
check_eq "acked_event_id is the last event the consumer received" "$last" \
	"$(val "SELECT acked_event_id FROM cmp.event_consumer WHERE owner_user_id = $a1 AND name = 'feed'")"
stop_consumer
check_eq "the consumer stops on SIGTERM (exit 0, stopped after $(received 1 | wc -l) events)" \
	"0 stopped $(received 1 | wc -l)" "$consumer_rc $(tail -n1 "$work/run.1.out")" "$(cat "$work/run.1.err")"

down=()
for k in 1 2 3; do down+=("$(change "$r1" "$a1" "While down $k" | cut -d'|' -f1)"); change "$r2" "$a2" "While down two $k" >/dev/null; done
start_consumer 2
wait_line "$work/run.2.out" '^ready ' || fail "the consumer starts again" "$work/run.2.err"
check_eq "restarted, the first drain receives only the ${#down[@]} events of account $r1 made while it was down" \
	"${down[*]}" "$(received 2 | paste -sd' ' -)"
old=$(received 2 | awk -v last="$last" '$1 <= last' | wc -l)
check_eq "nothing acknowledged before the restart comes again" 0 "$old"
for k in 1 2; do
	probe 2 "after the restart, notify $k"
	change "$r2" "$a2" "After restart two $k" >/dev/null
done
sleep 0.3
check_same "the restarted consumer received account $r1's events after its position, exactly once, in order" \
	"$(account1_events "$last")" "$(received_typed 2)"
stop_consumer
check_eq "the restarted consumer stops on SIGTERM (exit 0)" "0" "$consumer_rc" "$(cat "$work/run.2.err")"
check_eq "the consumer wrote nothing to stderr" "" "$(cat "$work"/run.*.err)"
finish
