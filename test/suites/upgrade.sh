#!/usr/bin/env bash
# test/suites/upgrade.sh -- SPEC §1: ALTER EXTENSION ... UPDATE from the
# version that shipped gives exactly the schema of a fresh install of the
# new one; the library refuses SQL objects of another version; CREATE
# EXTENSION refuses to adopt an existing schema cmp.
#
#   1. Version 1.0, as it shipped (git commit $RO_V10_COMMIT), is built and
#      installed into a private copy of the PostgreSQL tree, and a throwaway
#      cluster runs from it.  A database gets 1.0 and data through its
#      functions: accounts, users, customers (with their admins), SIMs
#      assigned, a status change, a db_role mapping.
#   2. The library of this checkout replaces 1.0's files in that tree: it
#      refuses to serve the 1.0 objects (55000, HINT: ALTER EXTENSION ...
#      UPDATE); then ALTER EXTENSION reseller_onboarding UPDATE.
#   3. The upgraded database's cmp catalog (tables, columns, defaults,
#      constraints, indexes, policies, triggers, views, sequences, functions
#      with their definitions, volatility, security and grants, comments,
#      table grants, extension membership) equals a fresh install's; every
#      table's rows are unchanged; the functions work (set_actor, a new
#      customer, reads as a customer user and as the mapped role).
#   4. CREATE EXTENSION on a database with a schema cmp already there, owned
#      by another role, open to CREATE by another role, or holding a
#      look-alike function: 42P06, nothing left; an empty schema cmp of a
#      superuser (what pg_restore and DROP EXTENSION leave) is accepted.
#
# Prints `ok - ...` / `not ok - ...` and ends with `N passed, M failed`.
set -uo pipefail
export LC_ALL=C

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
v10=${RO_V10_COMMIT:-8099c72}
sysbin=/usr/lib/postgresql/15/bin
pg_config=$sysbin/pg_config
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"

passed=0 failed=0
check() {
	if [[ $1 == 0 ]]; then echo "ok - $2"; passed=$((passed + 1)); else echo "not ok - $2"; failed=$((failed + 1)); fi
}
finish() { echo "$passed passed, $failed failed"; exit 0; }

tree=$(mktemp -d /tmp/ro_upgrade_pg.XXXXXX)
work=$(mktemp -d)
chmod 755 "$tree" "$work"
cleanup() {
	[[ -n ${started:-} ]] && cluster_stop >/dev/null 2>&1
	rm -rf "$tree" "$work"
}
trap cleanup EXIT

# ---- 1. version 1.0 in a private tree ----------------------------------------
mkdir -p "$work/v10"
if ! git -C "$repo" archive "$v10" | tar -C "$work/v10" -xf - 2>"$work/archive.log"; then
	echo "not ok - commit $v10 (version 1.0) is in the repository's history"
	cat "$work/archive.log"
	failed=$((failed + 1))
	finish
fi
# plain builds, whatever COPT the caller has (tools/sanitize.sh): they are
# loaded by the plain server of the private tree
if ! env -u COPT make -s -C "$work/v10" PG_CONFIG="$pg_config" all install DESTDIR="$tree" >"$work/build10.log" 2>&1; then
	echo "not ok - version 1.0 builds"; sed 's/^/#   /' "$work/build10.log" | tail -20
	failed=$((failed + 1))
	finish
fi
cp -asn /usr/lib/postgresql/15/lib/. "$tree/usr/lib/postgresql/15/lib/" 2>/dev/null || true
cp -asn /usr/share/postgresql/15/. "$tree/usr/share/postgresql/15/" 2>/dev/null || true
mkdir -p "$tree/usr/lib/postgresql/15/bin"
for b in postgres initdb pg_ctl pg_isready; do cp "$sysbin/$b" "$tree/usr/lib/postgresql/15/bin/"; done
ext=$tree/usr/share/postgresql/15/extension
# only what 1.0 shipped
rm -f "$ext"/reseller_onboarding--1.0--*.sql

export RO_PG_BINDIR=$tree/usr/lib/postgresql/15/bin RO_PORT=${RO_UPGRADE_PORT:-55461}
cluster_start >"$work/cluster.log" 2>&1 || { cat "$work/cluster.log"; echo "0 passed, 1 failed"; exit 1; }
started=1
q() { psql -X -q -v ON_ERROR_STOP=1 -U postgres "$@"; }

createdb -U postgres up
createdb -U postgres fresh
q -d up -v luhn="$repo/test/fixtures/luhn.sql" >"$work/load.log" 2>&1 <<'SQL'
CREATE EXTENSION reseller_onboarding;
CREATE ROLE ro_up_analyst;
CREATE ROLE ro_up_app;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_up_app;
\i :luhn
CREATE FUNCTION pg_temp.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;
SELECT cmp.create_account(account_number => 'UP-R', name => 'Upgrade Reseller', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'PDF', customer_billing_cycle_day => 3) AS acct \gset
SELECT cmp.create_account(account_number => 'UP-S', name => 'Upgrade Standard') AS std \gset
SELECT cmp.create_user(login => 'up_admin', email => 'admin@up.example', context_level => 'ACCOUNT',
	account_id => :acct, is_admin => true) AS admin \gset
SELECT cmp.create_user(login => 'up_analyst', email => 'analyst@up.example', context_level => 'ACCOUNT',
	account_id => :std, db_role => 'ro_up_analyst') AS analyst \gset
SELECT cmp.provision_sims(account_id => :acct, iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(1, 50) g));
SELECT cmp.provision_sims(account_id => :std, iccids => array(SELECT pg_temp.iccid(g) FROM generate_series(51, 60) g));
BEGIN;
SELECT cmp.set_actor(:admin);
SELECT cmp.create_customer(account_id => :acct, name => 'Up One', status => 'ACTIVE', billable => true,
	country => 'DE', city => 'Berlin', street => 'Weg 1', zip_code => '10115',
	admin_login => 'up_cu', admin_email => 'cu@up.example') AS c1 \gset
SELECT cmp.create_customer(account_id => :acct, name => 'Up Two', status => 'ACTIVE',
	admin_login => 'up_two', admin_email => 'two@up.example') AS c2 \gset
SELECT cmp.assign_sims(:c1, array(SELECT pg_temp.iccid(g) FROM generate_series(1, 20) g));
SELECT cmp.assign_sims(:c2, array(SELECT pg_temp.iccid(g) FROM generate_series(21, 25) g));
SELECT cmp.set_customer_status(:c2, 'SUSPENDED', reason => 'upgrade test');
COMMIT;
SQL
rc=$?
check "$rc" "version 1.0 installed and loaded through its functions"
((rc == 0)) || { sed 's/^/#   /' "$work/load.log" | tail -20; finish; }

# the 1.1 columns hash differently: compare the columns both versions have
rows_v10_columns() {
	q -d "$1" -At 2>&1 <<'SQL' | sed -E 's/^psql:[^ ]* NOTICE:  //; s/^NOTICE:  //'
DO $$
DECLARE
	r record;
	h text;
	cols text;
BEGIN
	FOR r IN SELECT c.oid, c.relname FROM pg_class c
	          WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'p')
	            AND NOT c.relispartition ORDER BY 2 LOOP
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
		  FROM pg_attribute a
		 WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'db_role_oid';
		EXECUTE format('SELECT md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM (SELECT %s FROM cmp.%I) AS t',
		               cols, r.relname) INTO h;
		-- 1.1 renamed app_user and sim_assignment_history to <name>_data
		-- (they are behind the masking views of the same names)
		RAISE NOTICE '% %', regexp_replace(r.relname, '_data$', ''), h;
	END LOOP;
END $$;
SQL
}
rows_v10_columns up >"$work/rows.before"

# ---- 2. this checkout's library meets the 1.0 objects, then the update -----
mkdir -p "$work/v11"
tar -C "$repo" --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./bench --exclude=./examples/node/node_modules -cf - . | tar -C "$work/v11" -xf -
env -u COPT make -s -C "$work/v11" PG_CONFIG="$pg_config" all install DESTDIR="$tree" >"$work/build11.log" 2>&1 ||
	{ echo "not ok - this checkout installs into the private tree"; sed 's/^/#   /' "$work/build11.log"; failed=$((failed + 1)); finish; }
q -d up -At -c '\set VERBOSITY verbose' -c 'SELECT cmp.set_actor(1)' >"$work/mismatch.log" 2>&1
grep -q '55000' "$work/mismatch.log" && grep -q 'HINT:  Run ALTER EXTENSION reseller_onboarding UPDATE' "$work/mismatch.log"
check "$?" "the new library refuses the 1.0 objects with 55000 and a HINT to update"
q -d up -c 'ALTER EXTENSION reseller_onboarding UPDATE' >"$work/update.log" 2>&1
rc=$?
check "$rc" "ALTER EXTENSION reseller_onboarding UPDATE from 1.0"
((rc == 0)) || sed 's/^/#   /' "$work/update.log"
v=$(q -d up -At -c "SELECT extversion FROM pg_extension WHERE extname = 'reseller_onboarding'")
lib=$(q -d up -At -c 'SELECT cmp.version()' 2>&1)
check "$([[ $v == 1.1 && $lib == 1.1 ]] && echo 0 || echo 1)" "after the update the extension is $v and the library says $lib"
q -d fresh -c 'CREATE EXTENSION reseller_onboarding' \
	-c 'GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO ro_up_app' >/dev/null 2>&1
check "$?" "a fresh install of the new version (and the same grant to the application role)"

# ---- 3. the catalogs, the rows, the functions --------------------------------
catalog() {
	q -d "$1" -At <<'SQL'
SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || c.relrowsecurity || c.relforcerowsecurity
       || ' acl=' || coalesce(c.relacl::text, '') || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
       || ' options=' || coalesce(c.reloptions::text, '')
  FROM pg_class c WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'm', 'p')
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' #' || a.attnum || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || ' generated=' || a.attgenerated::text || ' identity=' || a.attidentity::text
       || ' acl=' || coalesce(a.attacl::text, '') || ' comment=' || coalesce(col_description(c.oid, a.attnum), '')
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'v', 'p')
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'cmp'::regnamespace
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'cmp'::regnamespace)
UNION ALL
SELECT 'policy ' || tablename || ' ' || policyname || ' ' || permissive || ' ' || cmd || ' ' || roles::text
       || ' using=' || coalesce(qual, '') || ' check=' || coalesce(with_check, '')
  FROM pg_policies WHERE schemaname = 'cmp'
UNION ALL
SELECT 'trigger ' || tgrelid::regclass || ' ' || pg_get_triggerdef(oid) || ' ' || tgenabled::text
  FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'cmp'::regnamespace)
UNION ALL
SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
  FROM pg_class c WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT 'sequence ' || s.seqrelid::regclass || ' ' || format_type(s.seqtypid, NULL) || ' ' || s.seqstart
       || ' ' || s.seqincrement || ' ' || s.seqmax || ' ' || s.seqmin || ' ' || s.seqcache || ' ' || s.seqcycle
  FROM pg_sequence s WHERE s.seqrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'cmp'::regnamespace)
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' volatile=' || p.provolatile::text || ' secdef=' || p.prosecdef
       || ' parallel=' || p.proparallel::text || ' strict=' || p.proisstrict || ' leakproof=' || p.proleakproof
       || ' support=' || p.prosupport::text || ' config=' || coalesce(p.proconfig::text, '')
       || ' acl=' || coalesce(p.proacl::text, '') || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
       || E'\n' || CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE '' END
  FROM pg_proc p WHERE p.pronamespace = 'cmp'::regnamespace
UNION ALL
SELECT 'type ' || t.typname || ' ' || t.typtype::text || ' ' ||
       coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
  FROM pg_type t WHERE t.typnamespace = 'cmp'::regnamespace AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
UNION ALL
SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'reseller_onboarding' AND d.deptype = 'e'
UNION ALL
SELECT 'config ' || e.extconfig::regclass[]::text || ' ' || coalesce(e.extcondition::text, '')
  FROM pg_extension e WHERE e.extname = 'reseller_onboarding'
UNION ALL
SELECT 'schema ' || n.nspname || ' acl=' || coalesce(n.nspacl::text, '') FROM pg_namespace n WHERE n.nspname = 'cmp'
ORDER BY 1;
SQL
}
catalog up >"$work/catalog.up" 2>&1
catalog fresh >"$work/catalog.fresh" 2>&1
n_items=$(grep -c -E '^(relation|column|constraint|index|policy|trigger|view|sequence|function|type|member) ' "$work/catalog.fresh")
if ((n_items > 200)) && diff -u "$work/catalog.fresh" "$work/catalog.up" >"$work/catalog.diff"; then
	check 0 "the upgraded cmp catalog equals a fresh install's ($n_items objects compared)"
else
	check 1 "the upgraded cmp catalog equals a fresh install's ($n_items objects compared)"
	head -40 "$work/catalog.diff" "$work/catalog.fresh" | sed 's/^/#   /'
fi

rows_v10_columns up >"$work/rows.all"
# the tables 1.0 had, and those 1.1 added (which start empty: md5 of '')
awk 'NR == FNR { had[$1] = 1; next } ($1 in had)' "$work/rows.before" "$work/rows.all" >"$work/rows.after"
awk 'NR == FNR { had[$1] = 1; next } !($1 in had)' "$work/rows.before" "$work/rows.all" >"$work/rows.new"
if diff -u "$work/rows.before" "$work/rows.after" >"$work/rows.diff"; then
	check 0 "every table's rows are unchanged by the update ($(wc -l <"$work/rows.after") tables)"
else
	check 1 "every table's rows are unchanged by the update"
	sed 's/^/#   /' "$work/rows.diff" | head -20
fi
if [[ -s $work/rows.new ]] && ! grep -qv ' d41d8cd98f00b204e9800998ecf8427e$' "$work/rows.new"; then
	check 0 "the tables the update adds start empty ($(cut -d' ' -f1 "$work/rows.new" | tr '\n' ' '))"
else
	check 1 "the tables the update adds start empty"
	sed 's/^/#   /' "$work/rows.new"
fi

# 1.1 partitions the SIM history and the audit log by month: the update
# makes the 1.0 tables their default partitions; the first maintenance
# moves their rows into months, and every row stays what it was.
moved=$(q -d up -At -c "CALL cmp.maintain_partitions()" 2>&1 | awk '/ created: / { n += $NF } END { print n + 0 }')
in_default=$(q -d up -At -c "SELECT (SELECT count(*) FROM ONLY cmp.audit_log_default)
	+ (SELECT count(*) FROM ONLY cmp.sim_assignment_history_default)" 2>&1)
rows_v10_columns up >"$work/rows.all2"
awk 'NR == FNR { had[$1] = 1; next } ($1 in had)' "$work/rows.before" "$work/rows.all2" >"$work/rows.after2"
if [[ $moved =~ ^[0-9]+$ ]] && ((moved > 0)) && [[ $in_default == 0 ]] &&
	diff -u "$work/rows.before" "$work/rows.after2" >"$work/rows.diff2"; then
	check 0 "the first cmp.maintain_partitions() moves the 1.0 rows into months ($moved rows), and every table's rows are unchanged"
else
	check 1 "the first cmp.maintain_partitions() moves the 1.0 rows into months, rows unchanged"
	echo "#   moved=$moved left in the default partitions=$in_default"
	sed 's/^/#   /' "$work/rows.diff2" 2>/dev/null | head -20
fi
stale=$(q -d up -At -c "SELECT count(*) FROM cmp.app_user WHERE db_role IS NOT NULL AND db_role_oid IS DISTINCT FROM (SELECT oid FROM pg_roles WHERE rolname = db_role)")
check "$([[ $stale == 0 ]] && echo 0 || echo 1)" "the update bound the existing db_role mapping to its role's OID"

q -d up -At >"$work/after.log" 2>&1 <<'SQL'
SET ROLE ro_up_app;
BEGIN;
SELECT cmp.set_actor((SELECT 1::bigint));
SELECT 'new customer ' || (cmp.create_customer(account_id => 1, name => 'Up Three') IS NOT NULL);
COMMIT;
BEGIN;
SELECT cmp.set_actor(3);
SELECT 'customer user sees ' || count(*) FROM cmp.sim_grid;
COMMIT;
RESET ROLE;
SET ROLE ro_up_analyst;
SELECT 'analyst sees ' || count(*) FROM cmp.sim_card;
SQL
grep -q 'new customer true' "$work/after.log"
check "$?" "after the update an ACCOUNT user creates a customer"
grep -q 'customer user sees 20' "$work/after.log"
check "$?" "after the update the customer user reads its 20 SIMs through the grid"
grep -q 'analyst sees 10' "$work/after.log"
check "$?" "after the update the mapped role reads its account's 10 SIMs"

# ---- 4. CREATE EXTENSION does not adopt an existing schema cmp ---------------
adopt() { # adopt DB SETUP_SQL
	createdb -U postgres "$1"
	q -d "$1" -c "$2" >/dev/null 2>&1
	q -d "$1" -c '\set VERBOSITY verbose' -c 'CREATE EXTENSION reseller_onboarding' >"$work/$1.log" 2>&1
	local state=$?
	local left
	left=$(q -d "$1" -At -c "SELECT count(*) FROM pg_extension WHERE extname = 'reseller_onboarding'")
	[[ $state != 0 && $left == 0 ]] && grep -q '42P06' "$work/$1.log"
}
q -d postgres -c 'CREATE ROLE ro_up_dbowner' >/dev/null
adopt adopt_owned 'CREATE SCHEMA cmp AUTHORIZATION ro_up_dbowner'
check "$?" "CREATE EXTENSION refuses a schema cmp owned by another role (42P06), nothing installed"
adopt adopt_grant 'CREATE SCHEMA cmp; GRANT CREATE ON SCHEMA cmp TO ro_up_dbowner'
check "$?" "CREATE EXTENSION refuses a schema cmp where another role may create objects (42P06)"
createdb -U postgres adopt_empty
q -d adopt_empty -c 'CREATE SCHEMA cmp' -c 'CREATE EXTENSION reseller_onboarding' \
	-c 'DROP EXTENSION reseller_onboarding' -c 'CREATE EXTENSION reseller_onboarding' >"$work/adopt_empty.log" 2>&1
check "$?" "CREATE EXTENSION accepts an empty schema cmp of a superuser (as pg_restore and DROP EXTENSION leave one)"
adopt adopt_trap 'CREATE SCHEMA cmp; CREATE FUNCTION cmp.set_actor(integer) RETURNS void LANGUAGE sql AS $$SELECT$$'
check "$?" "CREATE EXTENSION refuses a schema cmp holding a look-alike cmp.set_actor(integer) (42P06)"

finish
