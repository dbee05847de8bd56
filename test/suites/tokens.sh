#!/usr/bin/env bash
# test/suites/tokens.sh -- SPEC §12 (verified identities) with real signed
# tokens: test/suites/tokens/tokens.js signs compact JWS tokens with jose
# (HS256, RS256, ES256; versions locked in its package-lock.json) and checks
# that cmp.set_actor_token accepts exactly the valid ones, refuses every
# forgery with 42501 'identity token refused' and a DETAIL that never
# repeats the token, and leaves no actor behind a refusal.
#
# Here: a database of our own with the extension; through the functions, as
# the system actor: a CSP user, a RESELLER account with an ACCOUNT user, an
# ACTIVE customer created with its admin user (create_customer with
# admin_login) and a DRAFT customer, a STANDARD account with a customer, a
# LOCKED ACCOUNT user and an ACCOUNT user that the checks lock and unlock.
# A login role granted EXECUTE on cmp.set_actor_token only.  Then `npm ci`
# of test/suites/tokens (in a copy, so the checkout stays clean) and
# `node tokens.js`, which registers its keys itself (cmp.add_identity_key as
# the system actor) and prints `ok - ...` / `not ok - ...` lines; this
# script ends with `N passed, M failed` over them and its own.
#
# Bounded: npm ci up to 180 s (from the npm cache when it is warm), the
# checks up to 120 s.  RO_KEEP=1 keeps the database, the role and the work
# directory.  Run by tools/test.sh.
set -uo pipefail
export LC_ALL=C
export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=ro_tokens_$$
role=ro_tokens_app_$$
started=$(date +%s)

passed=0
failed=0
work=""
role_created=0
db_created=0

# shellcheck source=test/suites/lib/report.sh
source "$repo/test/suites/lib/report.sh"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -n ${RO_KEEP:-} ]]; then
		echo "# RO_KEEP: database $db, role $role and $work kept" >&2
		return
	fi
	if ((db_created)); then
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
	fi
	if ((role_created)); then
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	fi
	[[ -n $work && -d $work ]] && rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish() {
	echo "# runtime: $(($(date +%s) - started)) s"
	echo "$passed passed, $failed failed"
	((failed == 0)) || exit 1
	exit 0
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	not_ok "node and npm are installed (tools/setup.sh installs them)"
	finish
fi

work=$(mktemp -d /tmp/ro_tokens.XXXXXX)
chmod 755 "$work"

# ---------------------------------------------------------------------------
# database, fixture, application role
# ---------------------------------------------------------------------------

if psql -X -q -At -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'" 2>/dev/null | grep -q 1; then
	not_ok "role $role does not exist yet (left over by another run?)"
	finish
fi
if createdb "$db" 2>"$work/err"; then
	db_created=1
else
	not_ok "database $db created" "$(cat "$work/err")"
	finish
fi
if ! psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION reseller_onboarding' >/dev/null 2>"$work/err"; then
	not_ok "CREATE EXTENSION reseller_onboarding" "$(cat "$work/err")"
	finish
fi
if [[ $(psql -X -q -At -d "$db" -c "SELECT to_regprocedure('cmp.set_actor_token(text, boolean)') IS NOT NULL" 2>&1) != t ]]; then
	not_ok "the extension has cmp.set_actor_token(text, boolean) (SPEC §12)"
	finish
fi
if psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $role LOGIN" >/dev/null 2>"$work/err"; then
	role_created=1
else
	not_ok "login role $role created" "$(cat "$work/err")"
	finish
fi

if ! psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -v cfg="$work/fixture.json" -d "$db" \
	>"$work/fixture.out" 2>&1 <<'SQL'; then
SELECT cmp.create_account(account_number => 'TOK-R', name => 'Token Reseller', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 1) AS r \gset
SELECT cmp.create_account(account_number => 'TOK-S', name => 'Token Standard') AS s \gset
SELECT cmp.create_user(login => 'tok.csp', email => 'csp@tokens.example', context_level => 'CSP') AS csp \gset
SELECT cmp.create_user(login => 'tok.account', email => 'account@tokens.example', context_level => 'ACCOUNT',
	account_id => :r) AS account \gset
SELECT cmp.create_user(login => 'tok.locked', email => 'locked@tokens.example', context_level => 'ACCOUNT',
	account_id => :r) AS locked \gset
SELECT cmp.set_user_status(user_id => :locked, status => 'LOCKED') AS ignored \gset
SELECT cmp.create_user(login => 'tok.lockme', email => 'lockme@tokens.example', context_level => 'ACCOUNT',
	account_id => :r) AS lockme \gset
SELECT cmp.create_customer(account_id => :r, name => 'Token Active Customer', status => 'ACTIVE',
	admin_login => 'tok.cadmin', admin_email => 'cadmin@tokens.example') AS c1 \gset
SELECT cmp.create_customer(account_id => :r, name => 'Token Draft Customer') AS c2 \gset
SELECT cmp.create_customer(account_id => :s, name => 'Token Standard Customer') AS c3 \gset
SELECT user_id AS cadmin FROM cmp.app_user_data WHERE login = 'tok.cadmin' \gset

GRANT EXECUTE ON FUNCTION cmp.set_actor_token(text, boolean) TO :"role";
ALTER ROLE :"role" IN DATABASE :"DBNAME" SET statement_timeout = '20s';

\pset format unaligned
\pset tuples_only on
\o :cfg
SELECT json_build_object(
	'csp', json_build_object('id', :csp, 'login', 'tok.csp', 'customers', 3),
	'account', json_build_object('id', :account, 'login', 'tok.account', 'customers', 2),
	'cadmin', json_build_object('id', :cadmin, 'login', 'tok.cadmin', 'customers', 1),
	'lockme', json_build_object('id', :lockme, 'login', 'tok.lockme', 'customers', 2),
	'locked', json_build_object('id', :locked, 'login', 'tok.locked'));
\o
SQL
	not_ok "fixture (accounts, users, customers, the application role)" "$(tail -20 "$work/fixture.out")"
	finish
fi
ok "fixture: CSP, ACCOUNT, customer admin and LOCKED users; a role granted cmp.set_actor_token only"

# the role really holds nothing else that sets an actor
grants=$(psql -X -q -At -d "$db" -c "
	SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p
	 WHERE p.pronamespace = 'cmp'::regnamespace
	   AND p.proname IN ('set_actor', 'set_actor_by_login', 'set_actor_token')
	   AND has_function_privilege('$role', p.oid, 'EXECUTE')" 2>&1)
check_eq "the application role may execute set_actor_token and neither set_actor nor set_actor_by_login" \
	"set_actor_token" "$grants"

# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------

mkdir "$work/app"
cp "$repo/test/suites/tokens/package.json" "$repo/test/suites/tokens/package-lock.json" \
	"$repo/test/suites/tokens/tokens.js" "$work/app/"
if ! (cd "$work/app" && timeout 180 npm ci --prefer-offline --no-audit --no-fund --loglevel=error) \
	>"$work/npm.log" 2>&1; then
	not_ok "npm ci of test/suites/tokens (package-lock.json)" "$(tail -20 "$work/npm.log")"
	finish
fi

(cd "$work/app" && PGDATABASE=$db APP_ROLE=$role FIXTURE=$(cat "$work/fixture.json") \
	timeout 120 node tokens.js) >"$work/node.out" 2>&1
rc=$?
grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$work/node.out"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/node.out" | tail -1)
if [[ -z $summary ]]; then
	not_ok "node tokens.js ended with its summary line (exit $rc)"
else
	read -r np _ nf _ <<<"$summary"
	passed=$((passed + np))
	failed=$((failed + nf))
	if ((rc != 0 && nf == 0)); then
		not_ok "node tokens.js exited 0 (exit $rc)"
	fi
fi

# nothing the checks did may have left an actor or a key behind for the role
left=$(psql -X -q -At -d "$db" -c "SELECT count(*) FROM pg_db_role_setting s
	WHERE s.setrole = '$role'::regrole AND array_to_string(s.setconfig, ',') LIKE '%cmp.actor%'" 2>&1)
check_eq "no cmp.actor setting was stored for the application role" "0" "$left"
forged=$(psql -X -q -At -d "$db" -c "SELECT count(*) FROM cmp.identity_key WHERE key_id = 'tok-forged'" 2>&1)
check_eq "the key the application role tried to add without an actor does not exist" "0" "$forged"

finish
