#!/usr/bin/env bash
# test/suites/node_example.sh -- a real client: examples/node/portal.js
# (node-postgres, versions locked in package-lock.json) runs a portal's
# per-request flow through pgbouncer in transaction mode for three actors at
# once, and checks what each sees and how refusals arrive (err.code,
# err.detail, err.hint).  See examples/node/README.md.
#
# Here: a database with two RESELLER accounts, their ACCOUNT admins, a CSP
# user and free SIMs, made through the functions; a login role portal_app
# that may call cmp.set_actor and nothing else; pgbouncer (pool_mode =
# transaction) on a unix socket in front of it; `npm ci` of the example;
# then the example's own checks, whose last line is `N passed, M failed`.
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=test/suites/lib/scratch.sh
source "$repo/test/suites/lib/scratch.sh"
# shellcheck source=test/suites/lib/pgbouncer.sh
source "$repo/test/suites/lib/pgbouncer.sh"

db=ro_node_$$
role=portal_app_$$

require_node_npm
pgbouncer_require
scratch_workdir ro_node

scratch_db_and_role
psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -v luhn="$repo/test/fixtures/luhn.sql" -d "$db" >"$work/setup.log" 2>&1 <<'SQL' || fail "fixture" "$work/setup.log"
\i :luhn
CREATE FUNCTION pg_temp.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;
SELECT cmp.create_account(account_number => 'NODE-1', name => 'Node Reseller One', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'PDF', customer_billing_cycle_day => 1) AS r1 \gset
SELECT cmp.create_account(account_number => 'NODE-2', name => 'Node Reseller Two', account_type => 'RESELLER',
	customer_invoice_creation => false, customer_invoice_type => 'RAW', customer_billing_cycle_day => 15) AS r2 \gset
SELECT cmp.create_user(login => 'node_admin_1', email => 'admin1@node.example', context_level => 'ACCOUNT',
	account_id => :r1, is_admin => true) AS a1 \gset
SELECT cmp.create_user(login => 'node_admin_2', email => 'admin2@node.example', context_level => 'ACCOUNT',
	account_id => :r2, is_admin => true) AS a2 \gset
SELECT cmp.create_user(login => 'node_csp', email => 'csp@node.example', context_level => 'CSP') AS csp \gset
SELECT cmp.provision_sims(account_id => :r1, iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(1, 300) g));
SELECT cmp.provision_sims(account_id => :r2, iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(301, 600) g));
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"role";
\echo :r1 :r2 :a1 :a2 :csp
SQL
read -r r1 r2 a1 a2 csp < <(tail -n1 "$work/setup.log")

pgbouncer_start portal 3 "max_client_conn = 50"

# the example, with its locked dependencies, in a copy of its own
scratch_npm_ci "$repo/examples/node" "$work/app"

cd "$work/app" || fail "cd"
PGHOST=$work PGPORT=6432 PGDATABASE=portal PGUSER=$role \
	RESELLER_1=$r1 RESELLER_2=$r2 ADMIN_1=$a1 ADMIN_2=$a2 CSP=$csp SIMS_PER_CUSTOMER=120 \
	timeout 120 node portal.js
