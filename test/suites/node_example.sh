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
set -uo pipefail
export LC_ALL=C
export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"
pgbouncer_bin=${RO_PGBOUNCER:-/usr/sbin/pgbouncer}
db=ro_node_$$
role=portal_app_$$
work=$(mktemp -d /tmp/ro_node.XXXXXX)
[[ $(id -u) -eq 0 ]] && chown "$RO_PG_OSUSER": "$work"

cleanup() {
	if [[ -f $work/pgbouncer.pid ]]; then
		kill -TERM "$(cat "$work/pgbouncer.pid")" 2>/dev/null
		sleep 0.3
	fi
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "not ok - $1"; [[ -n ${2:-} ]] && sed 's/^/#   /' "$2" | tail -20; echo "0 passed, 1 failed"; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are installed (tools/setup.sh installs them)"
[[ -x $pgbouncer_bin ]] || fail "pgbouncer is installed"

createdb "$db" || fail "createdb"
psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -v luhn="$repo/test/fixtures/luhn.sql" -d "$db" >"$work/setup.log" 2>&1 <<'SQL' || fail "fixture" "$work/setup.log"
CREATE EXTENSION reseller_onboarding;
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
CREATE ROLE :"role" LOGIN;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO :"role";
\echo :r1 :r2 :a1 :a2 :csp
SQL
read -r r1 r2 a1 a2 csp < <(tail -n1 "$work/setup.log")

cat >"$work/userlist.txt" <<EOF
"$role" ""
EOF
cat >"$work/pgbouncer.ini" <<EOF
[databases]
portal = host=$PGHOST port=$PGPORT dbname=$db user=$role pool_size=3
[pgbouncer]
listen_addr =
listen_port = 6432
unix_socket_dir = $work
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 50
server_reset_query = DISCARD ALL
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
EOF
[[ $(id -u) -eq 0 ]] && chown -R "$RO_PG_OSUSER": "$work"
as_pg "$pgbouncer_bin" -d -q "$work/pgbouncer.ini" >"$work/start.log" 2>&1 || fail "pgbouncer started" "$work/start.log"
for _ in $(seq 1 100); do [[ -S $work/.s.PGSQL.6432 ]] && break; sleep 0.1; done
[[ -S $work/.s.PGSQL.6432 ]] || fail "pgbouncer listens" "$work/pgbouncer.log"

# the example, with its locked dependencies, in a copy of its own
cp -r "$repo/examples/node" "$work/app"
rm -rf "$work/app/node_modules"
(cd "$work/app" && npm ci --no-audit --no-fund --loglevel=error) >"$work/npm.log" 2>&1 ||
	fail "npm ci of examples/node (package-lock.json)" "$work/npm.log"

cd "$work/app" || fail "cd"
PGHOST=$work PGPORT=6432 PGDATABASE=portal PGUSER=$role \
	RESELLER_1=$r1 RESELLER_2=$r2 ADMIN_1=$a1 ADMIN_2=$a2 CSP=$csp SIMS_PER_CUSTOMER=120 \
	timeout 120 node portal.js
