#!/usr/bin/env bash
# test/suites/revocation.sh -- SPEC §4 and §10 (Revocation races): a writer
# keeps assigning and unassigning a customer user, locking and unlocking it,
# and suspending and reactivating its customer, while readers read its SIMs
# through fresh statements, prepared statements and a PL/pgSQL function.
# Every read is checked against what its own statement's snapshot allows:
# the reading statement also calls race.allowed(), a SECURITY DEFINER
# function (its owner bypasses row-level security) that counts, from the
# tables, the SIMs the user may see under SPEC §5; being STABLE, it reads
# with the statement's snapshot.
#
#   leak     a read that shows more SIMs than its snapshot allows
#   refusal  a read refused (any error) although the request was valid
#            (cmp.set_actor refusing a user locked at that moment is valid)
#   short    a read that shows fewer (reported, not a failure: see README)
#
# Bounded: RO_RACE_SECONDS (default 20) of racing.  Prints the counts and
# ends with `N passed, M failed` (one check per reader kind: leaks 0,
# refusals 0, reads in the thousands; plus the writer's own progress).
set -uo pipefail
export LC_ALL=C
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

seconds=${RO_RACE_SECONDS:-20}
min_reads=${RO_RACE_MIN_READS:-1000}
db=ro_race_$$
app=ro_race_app_$$
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"; dropdb --if-exists "$db" >/dev/null 2>&1; psql -X -q -d postgres -c "DROP ROLE IF EXISTS $app" >/dev/null 2>&1' EXIT

passed=0 failed=0
check() { # check CONDITION-RESULT(0/1) MESSAGE
	if [[ $1 == 0 ]]; then
		echo "ok - $2"
		passed=$((passed + 1))
	else
		echo "not ok - $2"
		failed=$((failed + 1))
	fi
}

createdb "$db" || { echo "0 passed, 1 failed"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -v app="$app" -v luhn="$repo/test/fixtures/luhn.sql" -d "$db" >"$work/setup.log" 2>&1 <<'SQL' || { cat "$work/setup.log"; echo "0 passed, 1 failed"; exit 1; }
CREATE EXTENSION reseller_onboarding;
CREATE SCHEMA race;
\i :luhn
CREATE FUNCTION race.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;
SELECT cmp.create_account(account_number => 'RACE', name => 'Race Reseller', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW',
	customer_billing_cycle_day => 1) AS acct \gset
SELECT cmp.create_user(login => 'race_admin', email => 'admin@race.example', context_level => 'ACCOUNT',
	account_id => :acct, is_admin => true) AS admin \gset
SELECT cmp.provision_sims(account_id => :acct, iccids => array(SELECT race.iccid(g) FROM generate_series(1, 90) g));
BEGIN;
SELECT cmp.set_actor(:admin);
SELECT cmp.create_customer(account_id => :acct, name => 'P1', status => 'ACTIVE',
	admin_login => 'race_cu', admin_email => 'cu@race.example') AS p1 \gset
SELECT cmp.create_customer(account_id => :acct, name => 'P2', status => 'ACTIVE',
	admin_login => 'race_p2', admin_email => 'p2@race.example') AS p2 \gset
SELECT cmp.create_customer(account_id => :acct, name => 'T', status => 'ACTIVE',
	admin_login => 'race_t', admin_email => 't@race.example') AS t \gset
SELECT user_id AS cu FROM cmp.app_user WHERE login = 'race_cu' \gset
SELECT cmp.assign_user_to_customers(:cu, ARRAY[:p2, :t]::bigint[]);
SELECT cmp.assign_sims(:p1, array(SELECT race.iccid(g) FROM generate_series(1, 10) g));
SELECT cmp.assign_sims(:p2, array(SELECT race.iccid(g) FROM generate_series(11, 30) g));
SELECT cmp.assign_sims(:t, array(SELECT race.iccid(g) FROM generate_series(31, 70) g));
COMMIT;

-- What the user may see, from the tables, for the caller's snapshot.
CREATE FUNCTION race.allowed(u bigint) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog AS $$
	SELECT count(*) FROM cmp.sim_card s
	  JOIN cmp.user_customer uc ON uc.customer_id = s.customer_id AND uc.user_id = u
	  JOIN cmp.customer c ON c.customer_id = s.customer_id AND c.status IN ('ACTIVE', 'SUSPENDED')
	  JOIN cmp.app_user_data au ON au.user_id = u AND au.status = 'ACTIVE'
$$;
-- A PL/pgSQL reader with a cached plan; STABLE, so the same snapshot.
CREATE FUNCTION race.plpgsql_seen() RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT count(*) FROM cmp.sim_card);
END $$;
CREATE ROLE :"app" LOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"app";
GRANT USAGE ON SCHEMA race TO :"app";
\echo :acct :admin :cu :p1 :p2 :t
SQL
read -r acct admin cu p1 p2 t < <(tail -n1 "$work/setup.log")
echo "# account $acct, admin $admin, customer user $cu (customers $p1, $p2; toggled $t)"

# One reading script per kind, long enough for the time bound.
reps=200000
{
	for ((i = 0; i < reps; i++)); do
		echo "BEGIN; SELECT cmp.set_actor($cu); SELECT 'R', (SELECT count(*) FROM cmp.sim_card), race.allowed($cu); COMMIT;"
	done
} >"$work/fresh.sql"
{
	echo "PREPARE p AS SELECT 'R', (SELECT count(*) FROM cmp.sim_card), race.allowed($cu);"
	for ((i = 0; i < reps; i++)); do
		echo "BEGIN; SELECT cmp.set_actor($cu); EXECUTE p; COMMIT;"
	done
} >"$work/prepared.sql"
{
	for ((i = 0; i < reps; i++)); do
		echo "BEGIN; SELECT cmp.set_actor($cu); SELECT 'R', race.plpgsql_seen(), race.allowed($cu); COMMIT;"
	done
} >"$work/plpgsql.sql"
# The prepared reader again, inside one long transaction per 50 reads:
# revocations committed meanwhile must apply at the next statement.
{
	echo "PREPARE p AS SELECT 'R', (SELECT count(*) FROM cmp.sim_card), race.allowed($cu);"
	for ((i = 0; i < reps / 50; i++)); do
		echo "BEGIN; SELECT cmp.set_actor($cu);"
		for ((j = 0; j < 50; j++)); do echo "EXECUTE p;"; done
		echo "COMMIT;"
	done
} >"$work/intx.sql"
{
	for ((i = 0; i < reps; i++)); do
		echo "BEGIN; SELECT cmp.set_actor($admin); SELECT cmp.unassign_user_from_customers($cu, ARRAY[$t]::bigint[]); COMMIT;"
		echo "BEGIN; SELECT cmp.set_actor($admin); SELECT cmp.assign_user_to_customers($cu, ARRAY[$t]::bigint[]); COMMIT;"
		echo "BEGIN; SELECT cmp.set_actor($admin); SELECT cmp.set_user_status($cu, 'LOCKED'); COMMIT;"
		echo "BEGIN; SELECT cmp.set_actor($admin); SELECT cmp.set_user_status($cu, 'ACTIVE'); COMMIT;"
		echo "BEGIN; SELECT cmp.set_actor($admin); SELECT cmp.set_customer_status($t, 'SUSPENDED'); COMMIT;"
		echo "BEGIN; SELECT cmp.set_actor($admin); SELECT cmp.set_customer_status($t, 'ACTIVE'); COMMIT;"
	done
} >"$work/writer.sql"

readers=(fresh prepared plpgsql intx)
for r in "${readers[@]}"; do
	timeout "$seconds" psql -X -q -A -t -U "$app" -d "$db" -f "$work/$r.sql" \
		>"$work/$r.out" 2>"$work/$r.err" &
done
timeout "$seconds" psql -X -q -A -t -d "$db" -f "$work/writer.sql" >"$work/writer.out" 2>"$work/writer.err" &
wait

writes=$(grep -c . "$work/writer.out" || true)
write_errors=$(grep -c '^psql:.*ERROR' "$work/writer.err" || true)
echo "# writer: $writes changes committed, $write_errors errors"
check "$((writes >= 100 && write_errors == 0 ? 0 : 1))" "the writer committed $writes changes with no error"

for r in "${readers[@]}"; do
	read -r reads leaks shorts < <(awk -F'|' '$1 == "R" { n++; if ($2 > $3) l++; if ($2 < $3) s++ }
		END { printf "%d %d %d\n", n, l, s }' "$work/$r.out")
	# set_actor of a user locked at that moment is a valid refusal (55000),
	# and so are the statements of the transaction it aborted
	locked=$(grep -c 'ERROR:  user [0-9]* is locked' "$work/$r.err" || true)
	refusals=$(grep '^psql:.*ERROR' "$work/$r.err" |
		grep -v -c -e 'ERROR:  user [0-9]* is locked' -e 'current transaction is aborted' || true)
	echo "# $r: $reads reads, $leaks leaks, $refusals refusals, $shorts short ($locked set_actor refused: user locked)"
	if ((refusals > 0)); then
		grep 'ERROR' "$work/$r.err" | grep -v -e 'is locked' -e 'is aborted' | head -n3 | sed 's/^/#   /'
	fi
	if ((leaks > 0)); then awk -F'|' '$1 == "R" && $2 > $3' "$work/$r.out" | head -n3 | sed 's/^/#   leak: seen|allowed /'; fi
	check "$((leaks == 0 && refusals == 0 && reads >= min_reads ? 0 : 1))" \
		"$r reads: $reads reads, $leaks leaks, $refusals refusals"
done

echo "$passed passed, $failed failed"
