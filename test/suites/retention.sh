#!/usr/bin/env bash
# test/suites/retention.sh -- SPEC §14 (retention) under load: while writers
# and readers run, cmp.maintain_partitions() creates months ahead and
# retires old months (DETACH + DROP); nobody gets an error and no row of
# the current month is lost.
#
#   1. A database of our own; through the functions, as the system actor: a
#      RESELLER account, an ACCOUNT user, 4 ACTIVE customers (one per
#      writer) with 4 SIMs each, a customer user of the first.  Rows of two
#      past months (3 and 2 months ago) written by hand into the audit log,
#      the SIM history and the events, then a first maintenance that makes
#      their months.  A login role that may only call cmp.set_actor.
#   2. For RO_RETENTION_SECONDS (default 12), as that role, with pgbench:
#      - 2 writers, each on its own customer: one transaction per request,
#        set_actor(ACCOUNT user), set_customer_status ACTIVE <-> SUSPENDED,
#        and one of the customer's SIMs moved to the account and back
#        (unassign_sims / assign_sims): 2 audit rows, 2 events and 1 history
#        row per transaction;
#      - 2 readers, the customer user and the ACCOUNT user, counting the
#        audit log, the SIM history view and the events; one with the simple
#        protocol, one with prepared statements (whose plans name the
#        partitions);
#      meanwhile, every 1.5 s, a maintenance call that alternately creates
#      one more month ahead and retires a month: first the month 3 months
#      back (keep 2 months), then the month 2 months back (keep 1 month).
#   3. Checks: every pgbench client ran to the end with no failed
#      transaction; every maintenance call succeeded and the two old months
#      were retired; the current month holds exactly 2 audit rows, 2 events
#      and 1 history row per committed writer transaction (with the fixture's
#      own rows); nothing is left in the default partitions; no detached
#      table left behind.
#
# Bounded: about RO_RETENTION_SECONDS + 5 s.  Run by tools/test.sh; prints
# `ok - ...` / `not ok - ...` and ends with `N passed, M failed`.
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"

seconds=${RO_RETENTION_SECONDS:-12}
db=ro_retention_$$
role=ro_retention_app_$$
started=$(date +%s)
command -v pgbench >/dev/null || export PATH=/usr/lib/postgresql/15/bin:$PATH

scratch_workdir ro_retention
scratch_db_and_role

# ---------------------------------------------------------------------------
# 1. Fixture
# ---------------------------------------------------------------------------

if ! psql -X -q -v ON_ERROR_STOP=1 -v luhn="$repo/test/fixtures/luhn.sql" -v role="$role" \
	-d "$db" >"$work/fixture.out" 2>&1 <<'SQL'; then
\i :luhn
CREATE FUNCTION pg_temp.iccid(n integer) RETURNS text LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog AS $$ SELECT pg_temp.luhn('89493200' || lpad(n::text, 10, '0')) $$;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"role";
SELECT cmp.create_account(account_number => 'RET-R', name => 'Retention Reseller',
	account_type => 'RESELLER', customer_invoice_creation => false,
	customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_user(login => 'ret_acc', email => 'ret.acc@example.com',
	context_level => 'ACCOUNT', account_id => :acct, is_admin => true) AS acc \gset
SELECT cmp.provision_sims(account_id => :acct,
	iccids => ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 16) AS n)) \g /dev/null
SELECT cmp.set_actor(:acc);
SELECT cmp.create_customer(account_id => :acct, name => 'Ret ' || n, status => 'ACTIVE',
	admin_login => 'ret_ad' || n, admin_email => 'ret.ad' || n || '@example.com')
  FROM generate_series(1, 4) AS n \g /dev/null
SELECT min(customer_id) AS c0 FROM cmp.customer WHERE account_id = :acct \gset
SELECT cmp.assign_sims(c.customer_id,
	ARRAY(SELECT pg_temp.iccid(n) FROM generate_series(1, 16) AS n
	       WHERE (n - 1) / 4 = c.customer_id - :c0))
  FROM cmp.customer c WHERE c.account_id = :acct \g /dev/null
SELECT cmp.clear_actor();
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c0]::bigint[], login => 'ret_cu',
	email => 'ret.cu@example.com') AS cu \gset
-- two past months, as an upgrade from 1.0 or a year of use leaves them
INSERT INTO cmp.audit_log (occurred_at, db_role, operation, resource_type, account_id)
SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - m * interval '1 month' + interval '2 days',
       'old', 'old_op', 'customer', :acct
  FROM generate_series(2, 3) AS m, generate_series(1, 50);
INSERT INTO cmp.sim_assignment_history_data (iccid, account_id, to_customer_id, changed_at)
SELECT pg_temp.iccid(1), :acct, :c0,
       date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - m * interval '1 month' + interval '2 days'
  FROM generate_series(2, 3) AS m, generate_series(1, 50);
INSERT INTO cmp.event (event_id, occurred_at, event_type, account_id, resource_type, payload)
SELECT -(m * 100 + n),
       date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - m * interval '1 month' + interval '2 days',
       'customer.updated', :acct, 'customer', '{}'
  FROM generate_series(2, 3) AS m, generate_series(1, 50) AS n;
CALL cmp.maintain_partitions(months_ahead => 1);
CREATE TABLE public.ret_ctx AS SELECT :acct AS acct, :acc AS acc, :c0 AS c0, :cu AS cu;
SQL
	not_ok "fixture" "$(tail -n 20 "$work/fixture.out")"
	finish
fi
read -r acct acc c0 cu <<<"$(q "SELECT acct, acc, c0, cu FROM ret_ctx")"
mon() { q "SELECT to_char((now() AT TIME ZONE 'UTC') - $1 * interval '1 month', 'YYYY_MM')"; }
m3=$(mon 3) m2=$(mon 2) m0=$(mon 0)
check_eq "fixture: the audit log has the two past months, the current one and the next" \
	"audit_log_default audit_log_p$m3 audit_log_p$m2 audit_log_p$m0 audit_log_p$(mon -1)" \
	"$(q "SELECT string_agg(c.relname, ' ' ORDER BY c.relname ~ '_p', c.relname) FROM pg_inherits i
	       JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'cmp.audit_log'::regclass")"
q "SELECT count(*) FROM cmp.audit_log WHERE occurred_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'" >"$work/n" &&
	read -r audit0 <"$work/n"
q "SELECT count(*) FROM cmp.event WHERE occurred_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'" >"$work/n" &&
	read -r events0 <"$work/n"
q "SELECT count(*) FROM cmp.sim_assignment_history_data WHERE changed_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'" >"$work/n" &&
	read -r history0 <"$work/n"

# ---------------------------------------------------------------------------
# 2. Load and maintenance
# ---------------------------------------------------------------------------

# writer: client k (0, 1) works on customer c0 + k and its first SIM
cat >"$work/writer.sql" <<EOF
\\set c $c0 + :client_id
\\set sim_at 4 * :client_id
BEGIN;
SELECT cmp.set_actor($acc);
SELECT cmp.set_customer_status(customer_id => :c, reason => 'retention suite',
	status => (SELECT CASE WHEN status = 'ACTIVE' THEN 'SUSPENDED' ELSE 'ACTIVE' END
	             FROM cmp.customer WHERE customer_id = :c));
SELECT CASE WHEN customer_id IS NULL THEN 1 ELSE 0 END AS free
  FROM cmp.sim_card WHERE account_id = $acct ORDER BY iccid OFFSET :sim_at LIMIT 1 \\gset
\\if :free = 1
SELECT cmp.assign_sims(:c, ARRAY(SELECT iccid FROM cmp.sim_card WHERE account_id = $acct
                                  ORDER BY iccid OFFSET :sim_at LIMIT 1));
\\else
SELECT cmp.unassign_sims(ARRAY(SELECT iccid FROM cmp.sim_card WHERE account_id = $acct
                                ORDER BY iccid OFFSET :sim_at LIMIT 1));
\\endif
COMMIT;
EOF
cat >"$work/reader_cu.sql" <<EOF
BEGIN;
SELECT cmp.set_actor($cu);
SELECT count(*) FROM cmp.audit_log;
SELECT count(*) FROM cmp.sim_assignment_history;
SELECT count(*) FROM cmp.event;
COMMIT;
EOF
sed "s/set_actor($cu)/set_actor($acc)/" "$work/reader_cu.sql" >"$work/reader_acc.sql"

run_bench() { # NAME PROTOCOL SCRIPT CLIENTS
	pgbench -n -M "$2" -c "$4" -j "$4" -T "$seconds" -U "$role" --failures-detailed --verbose-errors \
		-f "$3" "$db" >"$work/$1.log" 2>&1
	echo $? >"$work/$1.rc"
}
run_bench writers simple "$work/writer.sql" 2 &
run_bench reader_cu simple "$work/reader_cu.sql" 1 &
run_bench reader_acc prepared "$work/reader_acc.sql" 1 &

# maintenance, as a scheduler would call it, while the load runs
maint_fail=0
: >"$work/maintenance.log"
step=0
end=$(($(date +%s) + seconds - 2))
while (($(date +%s) < end)); do
	sleep 1.5
	step=$((step + 1))
	case $step in
		2) call="CALL cmp.maintain_partitions(months_ahead => 2, keep_history => '2 months', keep_audit => '2 months', keep_events => '2 months')" ;;
		4) call="CALL cmp.maintain_partitions(months_ahead => 3, keep_history => '1 month', keep_audit => '1 month', keep_events => '1 month')" ;;
		*) call="CALL cmp.maintain_partitions(months_ahead => $((step / 2 + 3)))" ;;
	esac
	echo "-- step $step: $call" >>"$work/maintenance.log"
	psql -X -At -v ON_ERROR_STOP=1 -d "$db" -c "$call" >>"$work/maintenance.log" 2>&1 || maint_fail=$((maint_fail + 1))
done
wait

# ---------------------------------------------------------------------------
# 3. Checks
# ---------------------------------------------------------------------------

for b in writers reader_cu reader_acc; do
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/$b.log")
	f=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/$b.log")
	if [[ $(cat "$work/$b.rc") == 0 && ${f:-x} == 0 && ${n:-0} -gt 50 ]] && ! grep -q -i 'error\|aborted' "$work/$b.log"; then
		ok "$b: $n transactions, none failed, no client aborted"
	else
		not_ok "$b: every transaction succeeds (rc $(cat "$work/$b.rc"), $n processed, ${f:-?} failed)" \
			"$(grep -i -m 5 'error\|aborted\|failed' "$work/$b.log")"
	fi
done
writer_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/writers.log")
writer_tx=${writer_tx:-0}

if ((maint_fail == 0 && step >= 4)); then
	ok "$step maintenance calls while the load ran, none failed"
else
	not_ok "every maintenance call succeeds ($maint_fail of $step failed)" "$(grep -m 5 ERROR "$work/maintenance.log")"
fi
# the procedure tells each partition it made or retired as a NOTICE
retired=$(grep -c ' retired: ' "$work/maintenance.log")
created=$(grep -c ' created: ' "$work/maintenance.log")
check_eq "maintenance retired the two past months of the three tables (and created $created months ahead)" \
	"6 $m3 $m2" "$retired $(grep -m1 ' retired: ' "$work/maintenance.log" | sed -E 's/.*_p([0-9_]+) retired.*/\1/') $(grep ' retired: ' "$work/maintenance.log" | tail -n1 | sed -E 's/.*_p([0-9_]+) retired.*/\1/')"
if ((created >= 3)); then
	ok "maintenance created months ahead under the load ($created)"
else
	not_ok "maintenance created months ahead under the load" "$(cat "$work/maintenance.log")"
fi

cur="date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
check_eq "current month: every audit row is there ($audit0 of the fixture + 2 per writer transaction)" \
	"$((audit0 + 2 * writer_tx))" "$(q "SELECT count(*) FROM cmp.audit_log WHERE occurred_at >= $cur")"
check_eq "current month: every event is there ($events0 + 2 per writer transaction)" \
	"$((events0 + 2 * writer_tx))" "$(q "SELECT count(*) FROM cmp.event WHERE occurred_at >= $cur")"
check_eq "current month: every SIM history row is there ($history0 + 1 per writer transaction)" \
	"$((history0 + writer_tx))" "$(q "SELECT count(*) FROM cmp.sim_assignment_history_data WHERE changed_at >= $cur")"
check_eq "nothing older than last month is left" "0 0 0" \
	"$(q "SELECT (SELECT count(*) FROM cmp.audit_log WHERE occurred_at < $cur - interval '1 month'),
	             (SELECT count(*) FROM cmp.event WHERE occurred_at < $cur - interval '1 month'),
	             (SELECT count(*) FROM cmp.sim_assignment_history_data WHERE changed_at < $cur - interval '1 month')")"
check_eq "the default partitions are empty" "0 0 0" \
	"$(q "SELECT (SELECT count(*) FROM ONLY cmp.audit_log_default), (SELECT count(*) FROM ONLY cmp.event_default),
	             (SELECT count(*) FROM ONLY cmp.sim_assignment_history_default)")"
check_no_rows "no detached month is left behind" \
	"SELECT relname FROM pg_class WHERE relnamespace = 'cmp'::regnamespace AND relkind = 'r'
	    AND relname ~ '_p[0-9]{4}_[0-9]{2}\$' AND NOT relispartition"

finish
