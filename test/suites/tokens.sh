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
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"

db=ro_tokens_$$
role=ro_tokens_app_$$
started=$(date +%s)

require_node_npm
scratch_workdir ro_tokens

# ---------------------------------------------------------------------------
# database, fixture, application role
# ---------------------------------------------------------------------------

scratch_db_and_role
if [[ $(psql -X -q -At -d "$db" -c "SELECT to_regprocedure('cmp.set_actor_token(text, boolean)') IS NOT NULL" 2>&1) != t ]]; then
	not_ok "the extension has cmp.set_actor_token(text, boolean) (SPEC §12)"
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

scratch_npm_ci "$repo/test/suites/tokens" "$work/app"

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
