#!/usr/bin/env bash
# test/suites/fuzz.sh -- random SQL from sqlsmith, sent by the tenants who
# may send anything, never crashes the server nor reaches an internal error
# (SQLSTATE class XX).  sqlsmith (the Debian package) runs as two login
# roles, each mapped by `db_role` to a CMP user of a small data set, so that
# its sessions act as that user with no set_actor call and meet row-level
# security, the planner and executor hooks and the functions of cmp as that
# user:
#
#   customer  a CUSTOMER user assigned to three customers of a reseller (two
#             ACTIVE, one SUSPENDED): the `customer_id = ANY ($n)` plans
#   account   an ACCOUNT admin of that reseller: the `account_id = $n` plans,
#             and every function an account admin may call
#
# Each sends RO_FUZZ_QUERIES statements (default 1500), one after the other,
# from a fixed seed (RO_FUZZ_SEED, default 1, for the customer; one more for
# the account): a run repeats the statements of the last one as long as their
# outcomes (timeouts, random()) steer sqlsmith the same way, and a failing
# run keeps every statement.  --exclude-catalog keeps them on the
# extension's tables and views (RO_FUZZ_CATALOG=1: the system catalogs too).
# sqlsmith wraps each statement in BEGIN ... ROLLBACK and cancels it after 1 s.
#
# Checks: each role acts as intended before the run (cmp.whoami(), and what
# it sees); each ran at least 90 % of its statements (a crash or a hang may
# end a run early; RO_FUZZ_SECONDS bounds a run) and its errors are all in
# sqlsmith's log (--log-to, a database of its own, which keeps every failed
# statement with its SQLSTATE); no error of class XX there; in the server
# log written meanwhile ($RO_CLUSTER_DIR/postgres.log; the suite's database
# logs with log_error_verbosity = verbose, so every ERROR line carries its
# SQLSTATE and a LOCATION line) no crash (a backend terminated by a signal,
# PANIC, an assertion, a sanitizer report) and no error of class XX; the
# data set unchanged (every statement was rolled back); the server still
# accepts connections.  The internal errors PostgreSQL raises by itself for
# some inputs (listed below, each reproduced without the library) are shown
# and not counted; RO_FUZZ_STRICT=1 counts them too.
#
# Prints the statements run and the errors by SQLSTATE and class per role;
# ends with `N passed, M failed`.  A failing run leaves its files (the
# statements sent, sqlsmith's output, internal_errors.sql to replay the
# statements that failed with class XX, the server log excerpt) in
# tmp_check/fuzz/ under tools/test.sh; RO_KEEP=1 keeps the files, both
# databases and the roles of any run, to replay a statement as its role.
#
# Runtime with the defaults: about 25 s on 2 cores, 40 s with both busy
# (sqlsmith itself takes most of the CPU).  About two thirds of the
# statements end in an error, mostly sqlsmith's own type mismatches (42804,
# 42883) and writes refused by the grants (42501).
set -uo pipefail
export LC_ALL=C
repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

queries=${RO_FUZZ_QUERIES:-1500}
seed=${RO_FUZZ_SEED:-1}
limit=${RO_FUZZ_SECONDS:-$((60 + queries / 10))}	# per role: a run that takes longer hangs
db=ro_fuzz_$$
logdb=ro_fuzz_log_$$
cust_role=ro_fuzz_customer_$$
acct_role=ro_fuzz_account_$$

if ! command -v sqlsmith >/dev/null 2>&1; then
	echo "# sqlsmith not found: apt-get install sqlsmith (tools/setup.sh installs it)"
	echo "not ok - sqlsmith is installed"
	echo "0 passed, 1 failed"
	exit 1
fi

work=$(mktemp -d)
chmod 755 "$work"

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

cleanup() {
	# Under tools/test.sh, keep what a failing run needs to be reproduced
	# where the runner saves its outputs (tmp_check/ in the repo).
	if ((failed > 0)) && [[ -z ${RO_KEEP:-} && -n ${RO_CLUSTER_DIR:-} && -d $RO_CLUSTER_DIR/out ]]; then
		gzip -q "$work/customer.sql" "$work/account.sql" 2>/dev/null
		mkdir -p "$RO_CLUSTER_DIR/out/fuzz" && cp -a "$work/." "$RO_CLUSTER_DIR/out/fuzz/" 2>/dev/null
	fi
	# RO_KEEP=1: the files, both databases and the roles stay, to replay.
	[[ -n ${RO_KEEP:-} ]] && return
	rm -rf "$work"
	dropdb --if-exists "$db" >/dev/null 2>&1
	dropdb --if-exists "$logdb" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $cust_role" -c "DROP ROLE IF EXISTS $acct_role" >/dev/null 2>&1
}
trap cleanup EXIT

# The server log, from here on.
log=${RO_CLUSTER_DIR:+$RO_CLUSTER_DIR/postgres.log}
if [[ -n $log && -r $log ]]; then
	log_start=$(stat -c %s "$log")
else
	echo "# warning: server log ${log:-(RO_CLUSTER_DIR unset)} is not readable;" \
		"its checks fail, sqlsmith's own log is still checked"
	log='' log_start=0
fi
new_log_lines() { [[ -n $log ]] && tail -c +"$((log_start + 1))" "$log" 2>/dev/null; }

fail_setup() {
	sed 's/^/#   /' "$work/setup.log"
	failed=$((failed + 1))
	echo "$passed passed, $failed failed"
	exit 1
}

# The roles first: a db_role mapping binds the role that exists when it is
# made (SPEC §4).
psql -X -q -v ON_ERROR_STOP=1 -d postgres >"$work/setup.log" 2>&1 \
	-c "CREATE ROLE $cust_role LOGIN" -c "CREATE ROLE $acct_role LOGIN" || fail_setup
createdb "$db" >>"$work/setup.log" 2>&1 || fail_setup
createdb "$logdb" >>"$work/setup.log" 2>&1 || fail_setup
# For this database: the library in every session, whatever the cluster
# preloads; the SQLSTATE on every ERROR line the server logs; neither the
# failed statements (sqlsmith's log has them, and they would add some 10 MB
# to the server log) nor the warning sqlsmith's ROLLBACK before each BEGIN
# gets.  Crashes are logged by the postmaster, whatever these say.
psql -X -q -v ON_ERROR_STOP=1 -d postgres >>"$work/setup.log" 2>&1 \
	-c "ALTER DATABASE $db SET session_preload_libraries = 'reseller_onboarding'" \
	-c "ALTER DATABASE $db SET log_error_verbosity = verbose" \
	-c "ALTER DATABASE $db SET log_min_error_statement = panic" \
	-c "ALTER DATABASE $db SET log_min_messages = error" || fail_setup

# sqlsmith's --log-to tables (the columns it writes; its own log.sql is not
# in the Debian package): one row per run, one per failed statement.
psql -X -q -v ON_ERROR_STOP=1 -d "$logdb" >>"$work/setup.log" 2>&1 <<'SQL' || fail_setup
CREATE TABLE instance (id bigserial PRIMARY KEY, rev text, target text, hostname text,
	version text, seed text, t timestamptz DEFAULT now());
CREATE TABLE error (errid bigserial PRIMARY KEY, id bigint REFERENCES instance, msg text,
	query text, target text, sqlstate text, t timestamptz DEFAULT now());
CREATE TABLE stat (id bigint REFERENCES instance, generated bigint, level float8, nodes float8,
	retries float8, updated timestamptz, impedance text);
SQL

# The data set, through the functions, as the system actor (a superuser
# with no actor) except where the API wants an ACCOUNT user.  Helpers live
# in pg_temp, so that the fuzzers see the extension's objects only.
psql -X -q -At -v ON_ERROR_STOP=1 -v luhn="$repo/test/fixtures/luhn.sql" \
	-v cust_role="$cust_role" -v acct_role="$acct_role" -d "$db" >>"$work/setup.log" 2>&1 <<'SQL' || fail_setup
CREATE EXTENSION reseller_onboarding;
\i :luhn
CREATE FUNCTION pg_temp.iccid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$SELECT pg_temp.luhn('8949' || lpad(n::text, 14, '0'))$$;
CREATE FUNCTION pg_temp.iccids(lo int, hi int) RETURNS text[] LANGUAGE sql IMMUTABLE
	AS $$SELECT array_agg(pg_temp.iccid(g) ORDER BY g) FROM generate_series(lo, hi) g$$;

SELECT cmp.create_account(account_number => 'FZR', name => 'Fuzz Reseller', account_type => 'RESELLER',
	customer_invoice_creation => true, customer_invoice_type => 'RAW',
	customer_billing_cycle_day => 15) AS reseller \gset
SELECT cmp.create_account(account_number => 'FZS', name => 'Fuzz Standard') AS standard \gset
SELECT cmp.create_user(login => 'fz_csp', email => 'csp@fz.example', context_level => 'CSP',
	full_name => 'Fuzz Operator') AS csp \gset
SELECT cmp.create_user(login => 'fz_admin', email => 'admin@fz.example', context_level => 'ACCOUNT',
	account_id => :reseller, is_admin => true) AS r_admin \gset
SELECT cmp.create_user(login => 'fz_account', email => 'account@fz.example', context_level => 'ACCOUNT',
	account_id => :reseller, full_name => 'Fuzz Account Admin', is_admin => true,
	db_role => :'acct_role') AS acct_user \gset
SELECT cmp.create_user(login => 'fz_clerk', email => 'clerk@fz.example', context_level => 'ACCOUNT',
	account_id => :reseller) AS clerk \gset
SELECT cmp.create_user(login => 'fz_s_admin', email => 'admin@fzs.example', context_level => 'ACCOUNT',
	account_id => :standard, is_admin => true) AS s_admin \gset
SELECT cmp.provision_sims(account_id => :reseller, iccids => pg_temp.iccids(1, 60),
	imsis => array(SELECT '26201' || lpad(g::text, 10, '0') FROM generate_series(1, 60) g),
	msisdns => array(SELECT '49151' || lpad(g::text, 8, '0') FROM generate_series(1, 60) g));
SELECT cmp.provision_sims(account_id => :standard, iccids => pg_temp.iccids(101, 120));

BEGIN;
SELECT cmp.set_actor(:r_admin);
SELECT cmp.create_customer(account_id => :reseller, name => 'Fuzz One', status => 'ACTIVE', billable => true,
	external_customer_number => 'EXT-1', country => 'DE', city => 'Berlin', street => 'Hauptstr. 1',
	zip_code => '10115', phone => '+4930123456', homepage => 'https://one.example',
	estimated_annual_revenue => 1250000.50, revenue_currency => 'EUR',
	admin_login => 'fz_one', admin_email => 'one@fz.example', admin_full_name => 'One Admin') AS c1 \gset
SELECT cmp.create_customer(account_id => :reseller, name => 'Fuzz Two', status => 'ACTIVE',
	admin_login => 'fz_two', admin_email => 'two@fz.example') AS c2 \gset
SELECT cmp.create_customer(account_id => :reseller, name => 'Fuzz Three', status => 'ACTIVE',
	admin_login => 'fz_three', admin_email => 'three@fz.example') AS c3 \gset
SELECT cmp.create_customer(account_id => :reseller, name => 'Fuzz Draft', description => 'not yet live') AS c4 \gset
SELECT cmp.assign_sims(:c1, pg_temp.iccids(1, 10));
SELECT cmp.assign_sims(:c2, pg_temp.iccids(11, 20));
SELECT cmp.assign_sims(:c3, pg_temp.iccids(21, 25));
SELECT cmp.assign_sims(:c4, pg_temp.iccids(26, 27));
SELECT cmp.assign_sims(:c2, pg_temp.iccids(9, 10), reassign => true);
SELECT cmp.unassign_sims(pg_temp.iccids(19, 20));
SELECT cmp.update_customer(:c1, '{"description": "the first", "linkedin": null}');
SELECT cmp.set_customer_status(:c3, 'SUSPENDED', reason => 'unpaid invoice');
COMMIT;
BEGIN;
SELECT cmp.set_actor(:s_admin);
SELECT cmp.create_customer(account_id => :standard, name => 'Fuzz Elsewhere', status => 'ACTIVE',
	admin_login => 'fz_else', admin_email => 'else@fzs.example') AS c5 \gset
SELECT cmp.assign_sims(:c5, pg_temp.iccids(101, 105));
COMMIT;

-- The customer users, one of them the customer fuzzer's.
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c1, :c2, :c3]::bigint[], login => 'fz_customer',
	email => 'customer@fz.example', full_name => 'Fuzz Customer User',
	db_role => :'cust_role') AS cust_user \gset
SELECT cmp.create_customer_user(customer_ids => ARRAY[:c2]::bigint[], login => 'fz_viewer',
	email => 'viewer@fz.example') AS viewer \gset
SELECT cmp.set_user_status(:viewer, 'LOCKED');
\echo :reseller :c1 :c2 :c3
SQL
read -r reseller c1 c2 c3 < <(tail -n1 "$work/setup.log")

# fingerprint -- every table of cmp, row by row, as the superuser (who reads
# past row-level security).
fingerprint() {
	psql -X -q -At -d "$db" <<'SQL'
SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM cmp.%I x',
	relname, E'\n', '', relname)
FROM pg_class WHERE relnamespace = 'cmp'::regnamespace AND relkind = 'r' ORDER BY relname \gexec
SQL
}
fingerprint >"$work/before.txt"

# Each role acts as its user with no set_actor, and sees what that user may.
# In the reseller: the customer user's three customers hold SIMs 1-8 (c1),
# 9-18 (c2) and 21-25 (c3, SUSPENDED but visible): 23; the account, 60.
as_role() { local role=$1; shift; psql -X -q -At -U "$role" -d "$db" "$@" 2>&1; }
who="SELECT w.login, w.context_level, w.account_id,
	(SELECT array_agg(c ORDER BY c) FROM unnest(w.customer_ids) c),
	(SELECT count(*) FROM cmp.sim_card), (SELECT count(*) FROM cmp.customer)
FROM cmp.whoami() w"
got=$(as_role "$cust_role" -c "$who")
want="fz_customer|CUSTOMER|$reseller|{$c1,$c2,$c3}|23|3"
echo "# $cust_role: $got"
check "$([[ $got == "$want" ]] && echo 0 || echo 1)" \
	"$cust_role acts as the CUSTOMER user fz_customer (customers $c1, $c2, $c3: 23 SIMs) with no set_actor"
got=$(as_role "$acct_role" -c "$who")
echo "# $acct_role: $got"
want="fz_account|ACCOUNT|$reseller||60|4"	# no customer_ids for an ACCOUNT user
check "$([[ $got == "$want" ]] && echo 0 || echo 1)" \
	"$acct_role acts as the ACCOUNT admin fz_account (account $reseller: 60 SIMs, 4 customers) with no set_actor"

# fuzz NAME ROLE SEED -- one bounded sqlsmith run; prints its counts.
fuzz() {
	local name=$1 role=$2 s=$3 rc=0 run ok lost logged errs
	local -a opts=(--target="host=$PGHOST port=$PGPORT dbname=$db user=$role"
		--log-to="host=$PGHOST port=$PGPORT dbname=$logdb user=postgres"
		--seed="$s" --max-queries="$queries" --verbose --dump-all-queries)
	[[ -n ${RO_FUZZ_CATALOG:-} ]] || opts+=(--exclude-catalog)
	printf '%q ' sqlsmith "${opts[@]}" >"$work/$name.cmd"
	(cd "$work" && timeout "$limit" sqlsmith "${opts[@]}") >"$work/$name.sql" 2>"$work/$name.err" || rc=$?
	# --verbose prints one character per statement: . ran, e error,
	# S syntax error, t timeout, C connection lost.
	grep -E '^[.eStC]+$' "$work/$name.err" | tr -d '\n' >"$work/$name.progress"
	run=$(wc -c <"$work/$name.progress")
	ok=$(tr -cd '.' <"$work/$name.progress" | wc -c)
	lost=$(tr -cd 'C' <"$work/$name.progress" | wc -c)
	errs=$(psql -X -q -At -d "$logdb" -v target="%user=$role" <<'SQL'
WITH e AS (SELECT e.sqlstate FROM error e JOIN instance i USING (id) WHERE i.target LIKE :'target'),
	c AS (SELECT left(sqlstate, 2) AS class, count(*) AS n FROM e GROUP BY 1),
	s AS (SELECT sqlstate, count(*) AS n FROM e GROUP BY 1)
SELECT (SELECT count(*) FROM e)
	|| E'\n' || coalesce((SELECT string_agg(format('%s %s', class, n), ', ' ORDER BY n DESC, class) FROM c), 'none')
	|| E'\n' || coalesce((SELECT string_agg(format('%s %s', sqlstate, n), ', ' ORDER BY n DESC, sqlstate)
	                      FROM s), 'none')
SQL
)
	logged=$(sed -n 1p <<<"$errs")
	echo "# $name ($role, seed $s): $run of $queries statements run (exit $rc), $ok succeeded, $((run - ok)) failed ($logged logged), $lost lost the connection"
	echo "#   errors by SQLSTATE class: $(sed -n 2p <<<"$errs")"
	echo "#   by SQLSTATE: $(sed -n 3p <<<"$errs")"
	check "$((rc == 0 && run * 100 >= queries * 90 && logged == run - ok ? 0 : 1))" \
		"sqlsmith as the $name role ran $run of $queries statements (at least 90 %), every error logged with its SQLSTATE"
}

fuzz customer "$cust_role" "$seed"
fuzz account "$acct_role" "$((seed + 1))"

# Internal errors of PostgreSQL itself that sqlsmith reaches with or without
# the extension, each reproduced with the library not loaded: the message (an
# extended regex) and the functions that raise it (the server log's
# LOCATION).  They are shown, not counted; RO_FUZZ_STRICT=1 counts them too.
# Anything else of class XX fails, wherever it is raised: a wrong tree built
# by the extension's hooks would surface in PostgreSQL's own code.
known_core=(
	# pg_catalog.interval(interval, int4) and intervaltypmodout(int4) take
	# any integer as a typmod: SELECT pg_catalog.intervaltypmodout(92)
	'invalid INTERVAL typmod: 0x[0-9a-f]+$@^(intervaltypmodout|intervaltypmodleastfield)$'
	'unrecognized interval typmod: -?[0-9]+$@^AdjustIntervalForTypmod$'
	# an expression of type unknown that is not a literal, where text is
	# wanted: SELECT 'a'::text = pg_catalog.unknownin('x')
	'failed to find conversion function from unknown to text$@^coerce_type$'
	# an aggregate's transition helper called on any bigint[] (the fuzzer
	# now finds cmp.actor_customer_ids() to feed it):
	# SELECT pg_catalog.int8_avg(ARRAY[1,2,3]::bigint[])
	'expected 2-element int8 array$@^int8_avg$'
)
[[ -z ${RO_FUZZ_STRICT:-} ]] || known_core=()

# is_known_core MESSAGE [FUNCTION] -- a known PostgreSQL error (with no
# FUNCTION, as sqlsmith's log has none: by its message alone).
is_known_core() {
	local k
	for k in "${known_core[@]}"; do
		[[ $1 =~ ${k%%@*} ]] || continue
		[[ -z ${2:-} || $2 =~ ${k#*@} ]] && return 0
	done
	return 1
}

# classify -- reads "MESSAGE<TAB>FUNCTION" lines, prints each, and sets
# $new to the number of those that are not PostgreSQL's known ones.
classify() {
	local msg fn
	new=0
	while IFS=$'\t' read -r msg fn; do
		if is_known_core "$msg" "$fn"; then
			echo "#   known PostgreSQL error, not counted: $msg${fn:+ ($fn)}"
		else
			echo "#   internal error: $msg${fn:+ ($fn)}"
			new=$((new + 1))
		fi
	done
}

# sqlsmith's log: every error of class XX, with its statement, also written
# to internal_errors.sql (a script to replay them: psql -d DB -f ...).
psql -X -q -At -d "$logdb" >"$work/internal_errors.sql" -c "
	SELECT format(E'-- %s\n-- %s: %s\n%s;\n', i.target, e.sqlstate,
		regexp_replace(split_part(e.msg, E'\n', 1), '^ERROR: +', ''), e.query)
	FROM error e JOIN instance i USING (id) WHERE e.sqlstate LIKE 'XX%' ORDER BY e.errid"
psql -X -q -At -F $'\t' -d "$logdb" -c "
	SELECT regexp_replace(split_part(msg, E'\n', 1), '^ERROR: +', ''), ''
	FROM error WHERE sqlstate LIKE 'XX%' ORDER BY errid" >"$work/xx_sqlsmith.txt"
classify <"$work/xx_sqlsmith.txt" >"$work/xx_sqlsmith.out"
cat "$work/xx_sqlsmith.out"
check "$((new == 0 ? 0 : 1))" \
	"sqlsmith's log: $new internal errors (SQLSTATE class XX) besides PostgreSQL's known ones ($(grep -c . "$work/xx_sqlsmith.txt") in all)"
if ((new > 0)); then
	echo "#   the first statement of internal_errors.sql (every statement that failed with XX):"
	awk 'NR > 1 && /^-- host=/ { exit } { print }' "$work/internal_errors.sql" | head -n 40 | cut -c1-300 | sed 's/^/#     /'
fi

# The server log written since the start.  A backend that exits with code 1
# after a FATAL error (sqlsmith may terminate its own backend) is no crash.
new_log_lines >"$work/server.log"
crash_re='terminated by signal|exited with exit code ([2-9]|[1-9][0-9]+)| PANIC: |TRAP:|ERROR: +AddressSanitizer|runtime error:|terminating any other active server processes'
crashes=$(grep -c -E "$crash_re" "$work/server.log")
with_state=$(grep -c -E 'ERROR: +[0-9A-Z]{5}: ' "$work/server.log")
if [[ -n $log ]]; then
	echo "# server log: $(wc -l <"$work/server.log") lines written during the suite, $with_state ERROR lines with a SQLSTATE"
	check "$((crashes == 0 ? 0 : 1))" "server log: no crash ($crashes crash lines)"
	if ((crashes > 0)); then
		grep -E -A2 "$crash_re" "$work/server.log" | head -n 40 | cut -c1-300 | sed 's/^/#   /'
	fi
	# Each XX line with the function of the LOCATION line of its process
	# that follows it (log_error_verbosity = verbose).
	awk '
		match($0, /(ERROR|FATAL|PANIC): +XX[0-9A-Z][0-9A-Z][0-9A-Z]: /) {
			pid = $0; sub(/^[^[]*\[/, "", pid); sub(/\].*/, "", pid)
			msg[pid] = substr($0, RSTART + RLENGTH); open[pid] = 1; next
		}
		/LOCATION: / {
			pid = $0; sub(/^[^[]*\[/, "", pid); sub(/\].*/, "", pid)
			if (open[pid]) {
				fn = $0; sub(/.*LOCATION: +/, "", fn); sub(/,.*/, "", fn)
				printf "%s\t%s\n", msg[pid], fn; open[pid] = 0
			}
		}
		END { for (p in open) if (open[p]) printf "%s\t\n", msg[p] }
	' "$work/server.log" >"$work/xx_server.txt"
	classify <"$work/xx_server.txt" >"$work/xx_server.out"
	cat "$work/xx_server.out"
	# With no ERROR line carrying a SQLSTATE, the XX count says nothing.
	check "$((new == 0 && with_state > 0 ? 0 : 1))" \
		"server log: $new internal errors (SQLSTATE class XX) besides PostgreSQL's known ones ($(grep -c . "$work/xx_server.txt") in all, $with_state errors)"
else
	check 1 "server log: readable (no crash and no internal error cannot be checked)"
fi

fingerprint >"$work/after.txt"
diff "$work/before.txt" "$work/after.txt" >"$work/changed.txt"
check $? "the data set is unchanged: every fuzzed statement was rolled back ($(wc -l <"$work/before.txt") tables compared)"
sed 's/^/#   /' "$work/changed.txt" | head -n 20

psql -X -q -At -d "$db" -c 'SELECT 1' >/dev/null 2>&1 && [[ $(as_role "$cust_role" -c 'SELECT login FROM cmp.whoami()') == fz_customer ]]
check $? "the server still accepts connections (superuser and $cust_role)"

if [[ -n ${RO_KEEP:-} ]]; then
	echo "# kept: files in $work, databases $db and $logdb, roles $cust_role and $acct_role"
elif ((failed > 0)) && [[ -n ${RO_CLUSTER_DIR:-} && -d $RO_CLUSTER_DIR/out ]]; then
	echo "# files saved in tmp_check/fuzz/ (by tools/test.sh, from $RO_CLUSTER_DIR/out/fuzz)"
fi
echo "$passed passed, $failed failed"
((failed == 0))
