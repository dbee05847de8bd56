#!/usr/bin/env bash
# test/suites/dump_restore.sh -- SPEC §1 and §10 (Backup): pg_dump and
# pg_restore into a new database keep every row of every extension table,
# and the restored extension keeps working: customer numbers continue
# without collision, SIMs can be provisioned, sequences continue.
#
# Data is loaded only through the extension's functions.  Run by
# tools/test.sh with PGHOST/PGPORT/PGUSER pointing at a throwaway cluster;
# prints one `ok - ...` / `not ok - ...` line per check and ends with
# `N passed, M failed`.
set -euo pipefail

export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

suffix=$$
src_db=ro_dump_src_$suffix
dst_db=ro_dump_dst_$suffix
plain_db=ro_dump_plain_$suffix
work=$(mktemp -d)

passed=0
failed=0

# shellcheck source=test/suites/lib/report.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/report.sh"

cleanup() {
	local db
	for db in "$src_db" "$dst_db" "$plain_db"; do
		dropdb --if-exists "$db" >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# q DB SQL -- one value, unaligned, no headers; stderr goes to $work/err.
q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>"$work/err"
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [[ $2 == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1" "expected: $2" "got:      $3"
	fi
}

finish() {
	echo
	echo "$passed passed, $failed failed"
	if ((failed > 0)); then
		exit 1
	fi
	exit 0
}

# ---------------------------------------------------------------------------
# 1. A source database with data loaded through the functions
# ---------------------------------------------------------------------------

if createdb "$src_db" 2>"$work/err" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$src_db" \
		-c 'CREATE EXTENSION reseller_onboarding' 2>>"$work/err"; then
	ok "source database created with the extension"
else
	not_ok "source database created with the extension" "$(cat "$work/err")"
	finish
fi

# Superuser without an actor: the system actor (bootstrap). Customer 3 and
# a status change are made by the account's own admin, so actor ids and the
# mapped history rows are part of what must survive.
if psql -X -q -v ON_ERROR_STOP=1 -d "$src_db" >"$work/load.out" 2>"$work/load.err" <<'SQL'
SELECT cmp.create_account(account_number => 'DR-R1', name => 'Reseller One',
	account_type => 'RESELLER', customer_invoice_creation => true,
	customer_invoice_type => 'PDF', customer_billing_cycle_day => 5) AS acct_r \gset
SELECT cmp.create_account(account_number => 'DR-S1', name => 'Standard One') AS acct_s \gset
SELECT cmp.create_user(login => 'dr.csp', email => 'dr.csp@example.com',
	context_level => 'CSP') AS csp_id \gset
SELECT cmp.create_user(login => 'dr.r1.admin', email => 'dr.r1.admin@example.com',
	context_level => 'ACCOUNT', account_id => :acct_r, is_admin => true) AS r_admin \gset

SELECT cmp.create_customer(account_id => :acct_r, name => 'Alpha GmbH',
	admin_login => 'alpha.admin', admin_email => 'admin@alpha.example') AS c1 \gset
SELECT cmp.create_customer(account_id => :acct_r, name => 'Bravo AG', billable => true,
	external_customer_number => 'EXT-B', country => 'DE', city => 'Berlin',
	zip_code => '10115', street => 'Invalidenstr. 1', phone => '+4930123456',
	homepage => 'https://bravo.example', estimated_annual_revenue => 1500000.50,
	revenue_currency => 'EUR') AS c2 \gset
SELECT cmp.create_customer(account_id => :acct_s, name => 'Delta Ltd') AS c_s \gset

BEGIN;
SELECT cmp.set_actor(:r_admin) AS ignored \gset
SELECT cmp.create_customer(account_id => :acct_r, name => 'Charlie SA',
	description => 'made by the account admin') AS c3 \gset
SELECT cmp.set_customer_status(customer_id => :c1, status => 'ACTIVE',
	reason => 'contract signed') AS ignored \gset
COMMIT;

SELECT cmp.provision_sims(account_id => :acct_r,
	iccids => ARRAY['8991101200003204514', '8949227000123456789', '89492270001234567893'],
	imsis => ARRAY['262011234567801', '262011234567802', NULL],
	msisdns => ARRAY['4915112345601', NULL, '4915112345603']) AS ignored \gset
SELECT cmp.provision_sims(account_id => :acct_s,
	iccids => ARRAY['89012608823101234565', '8944301012345678900']) AS ignored \gset

-- A DBA's own addition to the lifecycle: pg_dump keeps it, next to the six
-- seeded transitions that CREATE EXTENSION makes again.
INSERT INTO cmp.customer_status_transition (from_status, to_status) VALUES ('DRAFT', 'SUSPENDED');

-- Months (SPEC §14): an audit row of a month long past (as an upgrade from
-- 1.0 leaves them), then the partitions maintenance makes, the rows moved
-- into them; pg_dump must write the months, their bounds and their rows.
INSERT INTO cmp.audit_log (occurred_at, db_role, operation, resource_type)
VALUES (now() - interval '13 months', 'old', 'old_op', 'customer');
SELECT count(*) AS ignored
  FROM unnest(ARRAY['cmp.sim_assignment_history_data', 'cmp.audit_log', 'cmp.event']::regclass[]) AS t,
       cmp.maintain_partition(t, 2) \gset
SQL
then
	ok "data loaded through create_account, create_user, create_customer, set_customer_status, provision_sims"
else
	not_ok "data loaded through the extension's functions" "$(cat "$work/load.err")"
	finish
fi

acct_r=$(q "$src_db" "SELECT account_id FROM cmp.account WHERE account_number = 'DR-R1'")
check_eq "source: customers of the reseller account are numbered 1, 2, 3" \
	"Alpha GmbH=1,Bravo AG=2,Charlie SA=3" \
	"$(q "$src_db" "SELECT string_agg(name || '=' || customer_number, ',' ORDER BY customer_number)
	                  FROM cmp.customer WHERE account_id = $acct_r")"
check_eq "source: Alpha GmbH is ACTIVE after the status change" "ACTIVE" \
	"$(q "$src_db" "SELECT status FROM cmp.customer WHERE name = 'Alpha GmbH'")"

# Every table of the extension, from the catalog: a table added later is
# compared too.
mapfile -t tables < <(q "$src_db" "
	SELECT c.relname FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'cmp' AND c.relkind IN ('r', 'p')
	 ORDER BY c.relname")
mapfile -t sequences < <(q "$src_db" "
	SELECT c.relname FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'cmp' AND c.relkind = 'S'
	 ORDER BY c.relname")

if ((${#tables[@]} >= 9)); then
	ok "source: found ${#tables[@]} cmp tables to compare (${tables[*]})"
else
	not_ok "source: at least the nine tables of the spec exist in cmp" "found: ${tables[*]}"
fi

# The comparison must not be vacuous: the tables the load writes hold rows.
for t in account app_user customer user_customer sim_card customer_status_transition \
	customer_status_history audit_log; do
	n=$(q "$src_db" "SELECT count(*) FROM cmp.$t" || echo "error: $(cat "$work/err")")
	if [[ $n =~ ^[0-9]+$ ]] && ((n > 0)); then
		ok "source: cmp.$t holds $n rows"
	else
		not_ok "source: cmp.$t holds rows" "count: $n"
	fi
done

# digest DB TABLE -- row count and md5 of all rows of a table in text form.
digest() {
	q "$1" "SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-')
	          FROM cmp.$2 t" || echo "error: $(head -n1 "$work/err")"
}

# seqstate DB SEQ -- where a sequence stands.
seqstate() {
	q "$1" "SELECT last_value || CASE WHEN is_called THEN ' (called)' ELSE '' END FROM cmp.$2" ||
		echo "error: $(head -n1 "$work/err")"
}

# compare_db LABEL DB -- every table row by row and every sequence.
compare_db() {
	local label=$1 db=$2 t want got
	for t in "${tables[@]}"; do
		want=$(digest "$src_db" "$t")
		got=$(digest "$db" "$t")
		if [[ $want == "$got" && $want != error* ]]; then
			ok "$label: cmp.$t identical to the source ($got)"
		else
			not_ok "$label: cmp.$t identical to the source" "source:   $want" "restored: $got"
		fi
	done
	for t in "${sequences[@]}"; do
		want=$(seqstate "$src_db" "$t")
		got=$(seqstate "$db" "$t")
		if [[ $want == "$got" && $want != error* ]]; then
			ok "$label: sequence cmp.$t stands where the source's does ($got)"
		else
			not_ok "$label: sequence cmp.$t stands where the source's does" \
				"source:   $want" "restored: $got"
		fi
	done
}

# ---------------------------------------------------------------------------
# 2. pg_dump -Fc, pg_restore into a new database, compare
# ---------------------------------------------------------------------------

if pg_dump -Fc -f "$work/src.dump" "$src_db" 2>"$work/err"; then
	ok "pg_dump -Fc of the source database"
else
	not_ok "pg_dump -Fc of the source database" "$(cat "$work/err")"
	finish
fi

if createdb "$dst_db" 2>"$work/err" &&
	pg_restore --exit-on-error -d "$dst_db" "$work/src.dump" 2>>"$work/err"; then
	ok "pg_restore into a new database, without errors"
else
	not_ok "pg_restore into a new database, without errors" "$(head -n 20 "$work/err")"
fi

check_eq "restored: the extension is installed" "reseller_onboarding" \
	"$(q "$dst_db" "SELECT extname FROM pg_catalog.pg_extension WHERE extname = 'reseller_onboarding'" ||
		cat "$work/err")"

compare_db "restored" "$dst_db"

# partitions DB -- every partition of the extension's tables with its bounds
partitions() {
	q "$1" "SELECT string_agg(i.inhparent::regclass || ' ' || c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid),
	                          ', ' ORDER BY c.relname)
	          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	         WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind = 'r'" || echo "error: $(head -n1 "$work/err")"
}
want=$(partitions "$src_db")
got=$(partitions "$dst_db")
if [[ $want == "$got" && $want == *audit_log_p*audit_log_p* ]]; then
	ok "restored: the same months with the same bounds (${got:0:160}...)"
else
	not_ok "restored: the same months with the same bounds" "source:   $want" "restored: $got"
fi

# ---------------------------------------------------------------------------
# 3. The restored extension keeps working
# ---------------------------------------------------------------------------

max_ids=$(q "$dst_db" "SELECT (SELECT max(customer_id) FROM cmp.customer) || ' '
                            || (SELECT max(user_id) FROM cmp.app_user) || ' '
                            || (SELECT max(event_id) FROM cmp.audit_log) || ' '
                            || (SELECT max(history_id) FROM cmp.customer_status_history) || ' '
                            || (SELECT max(account_id) FROM cmp.account)" || true)
read -r max_customer max_user max_event max_history max_account <<<"${max_ids:-0 0 0 0 0}"

out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$dst_db" 2>"$work/err" <<SQL
SELECT cmp.create_customer(account_id => $acct_r, name => 'Echo BV',
	admin_login => 'echo.admin', admin_email => 'admin@echo.example') AS c4 \gset
SELECT customer_number FROM cmp.customer WHERE customer_id = :c4;
SQL
) && rc=0 || rc=$?
if ((rc == 0)); then
	ok "restored: create_customer with an admin user works (no duplicate key)"
else
	not_ok "restored: create_customer with an admin user works (no duplicate key)" "$(cat "$work/err")"
fi
check_eq "restored: the next customer of the reseller account gets number 4" "4" "$out"

check_eq "restored: customer numbers in the reseller account are 1..4 without collision" \
	"1,2,3,4" \
	"$(q "$dst_db" "SELECT string_agg(customer_number::text, ',' ORDER BY customer_number)
	                  FROM cmp.customer WHERE account_id = $acct_r")"

new_ids=$(q "$dst_db" "SELECT (SELECT max(customer_id) FROM cmp.customer) || ' '
                            || (SELECT max(user_id) FROM cmp.app_user) || ' '
                            || (SELECT max(event_id) FROM cmp.audit_log) || ' '
                            || (SELECT max(history_id) FROM cmp.customer_status_history)" || true)
read -r new_customer new_user new_event new_history <<<"${new_ids:-0 0 0 0}"
if [[ $new_customer =~ ^[0-9]+$ && $max_customer =~ ^[0-9]+$ ]] && ((new_customer > max_customer)) &&
	((new_user > max_user)) && ((new_event > max_event)) && ((new_history > max_history)); then
	ok "restored: customer, user, audit and history ids continue after the restored ones"
else
	not_ok "restored: customer, user, audit and history ids continue after the restored ones" \
		"before: customer $max_customer user $max_user event $max_event history $max_history" \
		"after:  customer $new_customer user $new_user event $new_event history $new_history"
fi

out=$(q "$dst_db" "SELECT cmp.provision_sims(account_id => $acct_r,
	iccids => ARRAY['8944301012345678918', '8944301012345678926'],
	imsis => ARRAY['262011234567811', '262011234567812'])") && rc=0 || rc=$?
if ((rc == 0)) && [[ $out == 2 ]]; then
	ok "restored: provision_sims adds two more SIMs"
else
	not_ok "restored: provision_sims adds two more SIMs" "returned: $out" "$(cat "$work/err")"
fi
check_eq "restored: the reseller account now holds 5 SIMs" "5" \
	"$(q "$dst_db" "SELECT count(*) FROM cmp.sim_card WHERE account_id = $acct_r")"

out=$(q "$dst_db" "SELECT cmp.set_customer_status(customer_id => c.customer_id, status => 'ACTIVE',
                                                 reason => 'after restore')
                     FROM cmp.customer c WHERE c.name = 'Echo BV'") && rc=0 || rc=$?
if ((rc == 0)) && [[ $out == DRAFT ]]; then
	ok "restored: set_customer_status works and writes history (previous status DRAFT)"
else
	not_ok "restored: set_customer_status works and writes history" "returned: $out" "$(cat "$work/err")"
fi

out=$(q "$dst_db" "SELECT cmp.create_account(account_number => 'DR-S2', name => 'Standard Two')") &&
	rc=0 || rc=$?
if ((rc == 0)) && [[ $out =~ ^[0-9]+$ ]] && ((out > max_account)); then
	ok "restored: create_account works and its id continues after the restored ones ($out > $max_account)"
else
	not_ok "restored: create_account works and its id continues" "returned: $out" "$(cat "$work/err")"
fi

out=$(q "$dst_db" "SELECT cmp.create_user(login => 'dr.after', email => 'dr.after@example.com',
                                         context_level => 'CSP')") && rc=0 || rc=$?
if ((rc == 0)) && [[ $out =~ ^[0-9]+$ ]]; then
	ok "restored: create_user works (no duplicate user id)"
else
	not_ok "restored: create_user works (no duplicate user id)" "$(cat "$work/err")"
fi

check_eq "restored: the six seeded transitions and the DBA's DRAFT -> SUSPENDED, each once" \
	"ACTIVE>SUSPENDED,ACTIVE>TERMINATED,DRAFT>ACTIVE,DRAFT>SUSPENDED,DRAFT>TERMINATED,SUSPENDED>ACTIVE,SUSPENDED>TERMINATED" \
	"$(q "$dst_db" "SELECT string_agg(from_status || '>' || to_status, ',' ORDER BY from_status, to_status)
	                  FROM cmp.customer_status_transition")"

# The rules still hold in the restored database, for a superuser too.
if q "$dst_db" "INSERT INTO cmp.customer (account_id, account_type, customer_number, name, billable)
                SELECT account_id, account_type, 99, 'Billable On Standard', true
                  FROM cmp.account WHERE account_number = 'DR-S1'" >/dev/null; then
	not_ok "restored: a billable customer on a STANDARD account is still refused" "the INSERT succeeded"
elif grep -q 'violates check constraint' "$work/err"; then
	ok "restored: a billable customer on a STANDARD account is still refused"
else
	not_ok "restored: a billable customer on a STANDARD account is still refused (check constraint)" \
		"$(cat "$work/err")"
fi

# ---------------------------------------------------------------------------
# 4. A plain-format dump holds the rows, and restores too
# ---------------------------------------------------------------------------

if pg_dump -Fp -f "$work/src.sql" "$src_db" 2>"$work/err"; then
	ok "pg_dump -Fp of the source database"
else
	not_ok "pg_dump -Fp of the source database" "$(cat "$work/err")"
fi

# The COPY section of cmp.customer, up to its terminating "\.".
awk '/^COPY cmp\.customer /{on=1; next} on && /^\\\.$/{on=0} on' "$work/src.sql" >"$work/customer.copy" || true
customer_rows=$(wc -l <"$work/customer.copy")
check_eq "plain dump: the COPY section of cmp.customer holds the 4 customers" "4" "$customer_rows"
for name in 'Alpha GmbH' 'Bravo AG' 'Charlie SA' 'Delta Ltd'; do
	if grep -qF "$name" "$work/customer.copy"; then
		ok "plain dump: the COPY section of cmp.customer holds '$name'"
	else
		not_ok "plain dump: the COPY section of cmp.customer holds '$name'"
	fi
done
# (the audit log and the SIM history are partitioned: their rows are in the
# month that maintenance made for them above)
month=$(q "$src_db" "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')")
for t in account app_user_data sim_card "audit_log_p$month" customer_status_history user_customer \
	"sim_assignment_history_p$month"; do
	if grep -q "^COPY cmp\.$t " "$work/src.sql"; then
		ok "plain dump: has a COPY section for cmp.$t"
	else
		not_ok "plain dump: has a COPY section for cmp.$t"
	fi
done
if grep -q "^SELECT pg_catalog.setval('cmp\.customer_id_seq'" "$work/src.sql"; then
	ok "plain dump: sets cmp.customer_id_seq"
else
	not_ok "plain dump: sets cmp.customer_id_seq"
fi

if createdb "$plain_db" 2>"$work/err" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$plain_db" -f "$work/src.sql" >/dev/null 2>>"$work/err"; then
	ok "plain dump restores into a new database with psql, without errors"
	compare_db "plain restore" "$plain_db"
else
	not_ok "plain dump restores into a new database with psql, without errors" "$(head -n 20 "$work/err")"
fi

finish
