#!/usr/bin/env bash
# test/suites/deadlocks.sh -- SPEC §8: repeating a bulk call in the other
# order never deadlocks (40P01) with its twin.  Every bulk function that
# locks several SIMs runs against its twin over the same SIMs in the
# opposite order, both calls started at once, RO_DEADLOCK_ATTEMPTS times
# (default 25):
#
#   assign_sims          300 free SIMs to two customers (reassign => false):
#                        one call moves them, the other is refused with
#                        55000 (already on another customer)
#   assign_sims reassign the same, reassign => true: both succeed, one after
#                        the other
#   unassign_sims        300 SIMs of one customer, unassigned twice: both
#                        succeed (the second moves none)
#
# Prints the counts per pair and ends with `N passed, M failed`, one check
# per pair: no 40P01, and only the refusals listed above.
set -uo pipefail
export LC_ALL=C
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

attempts=${RO_DEADLOCK_ATTEMPTS:-25}
db=ro_deadlock_$$
work=$(mktemp -d)
trap '[[ -n ${RO_KEEP:-} ]] || rm -rf "$work"; dropdb --if-exists "$db" >/dev/null 2>&1' EXIT

passed=0 failed=0
check() {
	if [[ $1 == 0 ]]; then echo "ok - $2"; passed=$((passed + 1)); else echo "not ok - $2"; failed=$((failed + 1)); fi
}

createdb "$db" || { echo "0 passed, 1 failed"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -v luhn="$repo/test/fixtures/luhn.sql" -d "$db" >"$work/setup.log" 2>&1 <<'SQL' || { cat "$work/setup.log"; echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION reseller_onboarding;
CREATE SCHEMA dl;
\i :luhn
CREATE FUNCTION dl.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;
SELECT cmp.create_account(account_number => 'DL', name => 'Deadlock Reseller', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW',
	customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_user(login => 'dl_admin', email => 'admin@dl.example', context_level => 'ACCOUNT',
	account_id => :acct, is_admin => true) AS admin \gset
SELECT cmp.provision_sims(account_id => :acct, iccids => array(SELECT dl.iccid(g) FROM generate_series(1, 300) g));
BEGIN;
SELECT cmp.set_actor(:admin);
SELECT cmp.create_customer(account_id => :acct, name => 'DL One', status => 'ACTIVE',
	admin_login => 'dl_one', admin_email => 'one@dl.example') AS c1 \gset
SELECT cmp.create_customer(account_id => :acct, name => 'DL Two', status => 'ACTIVE',
	admin_login => 'dl_two', admin_email => 'two@dl.example') AS c2 \gset
COMMIT;
CREATE TABLE dl.up AS SELECT array_agg(dl.iccid(g) ORDER BY g) AS a FROM generate_series(1, 300) g;
CREATE TABLE dl.down AS SELECT array_agg(dl.iccid(g) ORDER BY g DESC) AS a FROM generate_series(1, 300) g;
\echo :admin :c1 :c2
SQL
read -r admin c1 c2 < <(tail -n1 "$work/setup.log")

# twin NAME RESET_SQL CALL_A CALL_B: both at once, $attempts times
twin() {
	local name=$1 reset=$2 call_a=$3 call_b=$4 i
	: >"$work/$name.err"
	for ((i = 0; i < attempts; i++)); do
		psql -X -q -d "$db" -c "$reset" >/dev/null
		# a starting gate: both calls wait on an advisory lock that is let go
		# once both wait, so that they run at the same moment
		psql -X -q -d "$db" >/dev/null 2>&1 <<'EOF' &
SELECT pg_advisory_lock(4242);
DO $$
BEGIN
	FOR i IN 1 .. 2000 LOOP
		EXIT WHEN (SELECT count(*) FROM pg_locks
		            WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted) >= 2;
		PERFORM pg_sleep(0.005);
	END LOOP;
END $$;
SELECT pg_advisory_unlock(4242);
EOF
		sleep 0.05
		for side in a b; do
			local call=$call_a
			[[ $side == b ]] && call=$call_b
			psql -X -q -d "$db" >/dev/null 2>>"$work/$name.err" <<EOF &
BEGIN;
SELECT cmp.set_actor($admin);
SELECT pg_advisory_lock_shared(4242);
$call;
SELECT pg_sleep(0.02);
COMMIT;
EOF
		done
		wait
	done
}

count() { grep -c "$1" "$2" || true; }
other_errors() { grep 'ERROR' "$1" | grep -v -c -e "$2" -e 'current transaction is aborted' || true; }

# verdict NAME WHAT [REFUSAL]: no deadlock, no error but REFUSAL, which (if
# given) the loser of every attempt gets
verdict() {
	local name=$1 what=$2 refusal=${3:-} dl refused=0 other
	dl=$(count 'deadlock detected' "$work/$name.err")
	other=$(other_errors "$work/$name.err" "${refusal:-no such refusal}")
	if [[ -n $refusal ]]; then
		refused=$(count "$refusal" "$work/$name.err")
		echo "# $what twins: $attempts attempts, $dl deadlocks, $refused refused (55000), $other other errors"
		check "$((dl == 0 && other == 0 && refused == attempts ? 0 : 1))" \
			"$what in opposite orders: 0 deadlocks, the loser refused with 55000 each time"
	else
		echo "# $what twins: $attempts attempts, $dl deadlocks, $other errors"
		check "$((dl == 0 && other == 0 ? 0 : 1))" "$what in opposite orders: 0 deadlocks, no error"
	fi
}

free="UPDATE cmp.sim_card SET customer_id = NULL, assigned_at = NULL"
twin assign "$free" \
	"SELECT cmp.assign_sims($c1, (SELECT a FROM dl.up))" \
	"SELECT cmp.assign_sims($c2, (SELECT a FROM dl.down))"
verdict assign assign_sims 'assigned to another customer'
twin reassign "$free" \
	"SELECT cmp.assign_sims($c1, (SELECT a FROM dl.up), reassign => true)" \
	"SELECT cmp.assign_sims($c2, (SELECT a FROM dl.down), reassign => true)"
verdict reassign 'assign_sims reassign'
twin unassign "UPDATE cmp.sim_card SET customer_id = $c1, assigned_at = now()" \
	"SELECT cmp.unassign_sims((SELECT a FROM dl.up))" \
	"SELECT cmp.unassign_sims((SELECT a FROM dl.down))"
verdict unassign unassign_sims

echo "$passed passed, $failed failed"
