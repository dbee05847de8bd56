#!/usr/bin/env bash
# bench/run.sh -- THE benchmark command (SPEC §9): build, start a throwaway
# cluster tuned for benchmarking, generate the data set through the
# extension's functions, measure every line of SPEC §9 against a hand-written
# baseline, write results, stop the cluster.
#
#   bash bench/run.sh [--scale S] [--reps N] [--out DIR] [--seconds T]
#                     [--tp-seconds T] [--bulk-sims N] [--no-setup] [--keep]
#
#   --scale S       1 = SPEC §9 (1,000 accounts, 100,000 customers, 200,000
#                   users, 10,000,000 SIMs); default 0.02 (about 12 minutes)
#   --reps N        repetitions of every measurement, default 7
#   --out DIR       results directory, default bench/results
#   --seconds T     pgbench duration of one query measurement, default
#                   10 x S rounded, at least 2 (2 at the default scale, 10 at 1)
#   --tp-seconds T  pgbench duration of one throughput measurement, default 4
#   --bulk-sims N   SIMs of the BULK account that assign_sims moves in one
#                   call; default min(1,000,000, 5,000,000 x S), at least 10,000
#   --no-setup      skip the package check (tools/setup.sh)
#   --keep          leave the cluster running at the end (prints how to reach it)
#
# Each line runs extension and baseline back to back in the same cluster on
# the same data (extension first in odd repetitions, baseline first in even
# ones), and reports the medians and the median of the per-repetition
# ratios.  See bench/README.md for the method.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=$repo/bench

scale=0.02 reps=7 out=$bench/results secs='' tp_secs=4 bulk_sims='' setup=1 keep=0
while (($#)); do
	case $1 in
		--scale) scale=$2; shift 2 ;;
		--reps) reps=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		--seconds) secs=$2; shift 2 ;;
		--tp-seconds) tp_secs=$2; shift 2 ;;
		--bulk-sims) bulk_sims=$2; shift 2 ;;
		--no-setup) setup=0; shift ;;
		--keep) keep=1; shift ;;
		-h | --help) sed -n '2,26p' "$0"; exit 0 ;;
		*) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
[[ $scale =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "run.sh: --scale must be a number" >&2; exit 2; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --reps must be a positive integer" >&2; exit 2; }
if [[ -z $secs ]]; then
	# long enough for several of the slowest query (a count of every SIM)
	secs=$(awk -v s="$scale" 'BEGIN { n = int(10 * s + 0.5); if (n < 2) n = 2; print n }')
fi
if [[ -z $bulk_sims ]]; then
	bulk_sims=$(awk -v s="$scale" 'BEGIN { n = int(5000000 * s + 0.5); if (n > 1000000) n = 1000000; if (n < 10000) n = 10000; print n }')
fi

t_start=$(date +%s)
say() { printf '[%s %5ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - t_start))" "$*"; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/explain" "$out/scripts" "$out/logs"
mkdir -p "$out/explain" "$out/scripts" "$out/logs"
raw=$out/raw.csv
echo "line,side,rep,value" >"$raw"
: >"$out/lines.tsv"
: >"$out/meta.txt"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$out/meta.txt"; }

# ---------------------------------------------------------------------------
# Build.  Packages come from tools/setup.sh; the extension is built from this
# checkout in a private copy and installed into a private, relocated copy of
# the PostgreSQL 15 tree (PostgreSQL finds its lib/ and share/ relative to
# its binary), so a concurrent `make install` elsewhere on the machine -- the
# test suite installs plain and sanitizer builds -- cannot swap the library
# under a running benchmark.
# ---------------------------------------------------------------------------

if ((setup)); then
	say "packages (tools/setup.sh)"
	RO_SKIP_BUILD=1 bash "$repo/tools/setup.sh"
fi
command -v pgbench >/dev/null || export PATH=/usr/lib/postgresql/15/bin:$PATH
command -v python3 >/dev/null || { echo "run.sh: python3 is needed" >&2; exit 1; }

sysbin=/usr/lib/postgresql/15/bin
pg_config=$sysbin/pg_config
tree=$(mktemp -d /tmp/ro_bench_pg.XXXXXX)
chmod 755 "$tree"
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"
cleanup() {
	if ((keep)) && [[ -n ${RO_CLUSTER_DIR:-} ]]; then
		echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT psql -U postgres bench"
		echo "stop it with: source tools/cluster.sh; RO_PG_BINDIR=$tree/usr/lib/postgresql/15/bin cluster_stop $RO_CLUSTER_DIR; rm -rf $tree"
		return
	fi
	cluster_stop || true
	rm -rf "$tree"
}
trap cleanup EXIT

say "building the extension from $repo in $tree"
mkdir -p "$tree/src"
tar -C "$repo" --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./bench --exclude=./tmp_check --exclude=./results -cf - . | tar -C "$tree/src" -xf -
make -s --no-print-directory -C "$tree/src" PG_CONFIG="$pg_config" all >"$out/logs/build.log" 2>&1 ||
	{ cat "$out/logs/build.log" >&2; exit 1; }
make -s --no-print-directory -C "$tree/src" PG_CONFIG="$pg_config" install DESTDIR="$tree" \
	>>"$out/logs/build.log" 2>&1 || { cat "$out/logs/build.log" >&2; exit 1; }
# the rest of the PostgreSQL tree: symlinks, except the binaries, which must
# be real files for the relocation to work
cp -asn /usr/lib/postgresql/15/lib/. "$tree/usr/lib/postgresql/15/lib/" 2>/dev/null || true
cp -asn /usr/share/postgresql/15/. "$tree/usr/share/postgresql/15/" 2>/dev/null || true
mkdir -p "$tree/usr/lib/postgresql/15/bin"
for b in postgres initdb pg_ctl pg_isready; do cp "$sysbin/$b" "$tree/usr/lib/postgresql/15/bin/"; done
export RO_PG_BINDIR=$tree/usr/lib/postgresql/15/bin
so=$tree/usr/lib/postgresql/15/lib/reseller_onboarding.so
if nm -D "$so" 2>/dev/null | grep -q __asan_; then
	echo "run.sh: the build is instrumented with AddressSanitizer; benchmark a plain build" >&2
	exit 1
fi

meta git_commit "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
meta git_dirty "$(git -C "$repo" status --porcelain -- src sql Makefile reseller_onboarding.control 2>/dev/null | wc -l | tr -d ' ') changed file(s) in src/ sql/ Makefile control"
meta so_sha256 "$(sha256sum "$so" | cut -c1-16)"

# ---------------------------------------------------------------------------
# Cluster.
# ---------------------------------------------------------------------------

# session_preload_libraries as README recommends: without it, the statement
# that loads the library in a session is planned before the extension's
# planner hook exists and checks every row (cmp.actor_sees) instead of
# folding the actor; pgbench's first query per connection would pay that.
settings=(
	-c session_preload_libraries=reseller_onboarding
	-c shared_buffers=2GB -c work_mem=64MB -c maintenance_work_mem=1GB
	-c max_wal_size=8GB -c checkpoint_timeout=30min
	-c max_parallel_workers_per_gather=2 -c jit=off
	-c autovacuum=off
)
export RO_PORT=${RO_BENCH_PORT:-55490}
say "starting the cluster (${settings[*]})"
cluster_start "${settings[@]}"
meta settings "session_preload_libraries=reseller_onboarding shared_buffers=2GB work_mem=64MB maintenance_work_mem=1GB max_wal_size=8GB checkpoint_timeout=30min max_parallel_workers_per_gather=2 jit=off autovacuum=off (VACUUM run explicitly between measurements) fsync=off (tools/cluster.sh) synchronous_commit=on"

db=bench
psql_su() { psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "$db" "$@"; }
"$sysbin/createdb" -U postgres "$db"
psql_su -c 'CREATE EXTENSION reseller_onboarding'

# ---------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------

say "generating the data set: scale $scale, BULK account with $bulk_sims SIMs"
t0=$(date +%s)
psql_su -v scale="$scale" -v bulk_sims="$bulk_sims" -v batch=100000 -f "$bench/generate.sql" 2>&1 |
	tee "$out/logs/generate.log" | grep --line-buffered -E 'generate:|NOTICE:  [a-z_]+: ' | sed -u -E 's/^psql:[^ ]+ NOTICE:  /    /'
((PIPESTATUS[0] == 0)) || { echo "run.sh: generation failed; see $out/logs/generate.log" >&2; exit 1; }
t1=$(date +%s)
say "VACUUM ANALYZE"
psql_su -c 'VACUUM ANALYZE'
t2=$(date +%s)
meta gen_seconds "$((t1 - t0))"
meta vacuum_seconds "$((t2 - t1))"
say "generated in $((t1 - t0)) s, vacuumed in $((t2 - t1)) s"

say "benchmark actors (bench/actors.sql)"
psql_su -f "$bench/actors.sql" >"$out/logs/actors.log"
psql_su -c 'VACUUM ANALYZE'

ctx() { psql_su -At -c "SELECT value FROM bench.ctx WHERE key = '$1'"; }
for k in acct_account_id bulk_account_id typ_customer_id big_customer_id csp_user_id acct_user_id \
	bulk_user_id typ_user_id big_user_id bulk_customer_id toggle_lo toggle_n typ_sims big_sims \
	acct_sims bulk_sims bulk_free bulk_g_lo total_sims big_page2_after; do
	printf -v "c_$k" '%s' "$(ctx "$k")"
	meta "ctx_$k" "$(ctx "$k")"
done

psql_su --csv -c "
SELECT 'accounts' AS what, count(*) AS rows FROM cmp.account
UNION ALL SELECT 'accounts RESELLER', count(*) FROM cmp.account WHERE account_type = 'RESELLER'
UNION ALL SELECT 'customers', count(*) FROM cmp.customer
UNION ALL SELECT 'customers ' || status, count(*) FROM (SELECT status FROM cmp.customer ORDER BY 1) s GROUP BY status
UNION ALL SELECT 'users', count(*) FROM cmp.app_user
UNION ALL SELECT 'users ' || context_level, count(*) FROM (SELECT context_level FROM cmp.app_user ORDER BY 1) u GROUP BY context_level
UNION ALL SELECT 'user-customer assignments', count(*) FROM cmp.user_customer
UNION ALL SELECT 'SIMs', count(*) FROM cmp.sim_card
UNION ALL SELECT 'SIMs assigned to customers', count(*) FROM cmp.sim_card WHERE customer_id IS NOT NULL
UNION ALL SELECT 'SIMs of the BULK account', count(*) FROM cmp.sim_card WHERE account_id = $c_bulk_account_id
UNION ALL SELECT 'customer status history', count(*) FROM cmp.customer_status_history
UNION ALL SELECT 'SIM assignment history', count(*) FROM cmp.sim_assignment_history
UNION ALL SELECT 'audit log', count(*) FROM cmp.audit_log
UNION ALL SELECT 'database size (MB)', pg_database_size(current_database()) / 1048576
" >"$out/rowcounts.csv"
sed 's/^/    /' "$out/rowcounts.csv"
# what the data set takes on disk, per table and index (SPEC §14: the
# capacity estimate in bench/README.md scales these)
psql_su --csv -c "
SELECT c.relname AS relation, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END AS kind,
       coalesce(i.indrelid::regclass::text, '') AS of_table, c.reltuples::bigint AS rows_estimate,
       round(pg_relation_size(c.oid) / 1048576.0, 1) AS mb
  FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid
 WHERE c.relnamespace = 'cmp'::regnamespace AND c.relkind IN ('r', 'i') AND pg_relation_size(c.oid) > 1048576
 ORDER BY pg_relation_size(c.oid) DESC
" >"$out/sizes.csv"

# ---------------------------------------------------------------------------
# Measurement helpers.
# ---------------------------------------------------------------------------

# line ID TITLE KIND OP BOUND: declare a result line (report.py reads it)
line() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$out/lines.tsv"; }

# pgb LOGNAME ROLE SCRIPT CLIENTS SECONDS [pgbench args...] -> tps on stdout
pgb() {
	local log=$out/logs/$1.log role=$2 script=$3 clients=$4 t=$5
	shift 5
	if ! pgbench -n -U "$role" -f "$script" -c "$clients" -j "$clients" -T "$t" "$@" "$db" \
		>"$log" 2>&1; then
		echo "run.sh: pgbench failed ($role, $script); see $log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	if grep -qE '^number of failed transactions: [1-9]|aborted' "$log"; then
		echo "run.sh: pgbench had failed transactions; see $log" >&2
		exit 1
	fi
	sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$log"
}

# pair ID CLIENTS SECONDS EXT_ROLE EXT_SCRIPT BASE_SCRIPT [PREP_FUNCTION [PROTOCOL]]
# Runs both sides REPS times, alternating which goes first, and records tps.
pair() {
	local id=$1 clients=$2 t=$3 erole=$4 escript=$5 bscript=$6 prep=${7:-} proto=${8:-simple}
	local rep side v e b
	for ((rep = 1; rep <= reps; rep++)); do
		local order=(extension baseline)
		((rep % 2)) || order=(baseline extension)
		for side in "${order[@]}"; do
			[[ -n $prep ]] && "$prep"
			if [[ $side == extension ]]; then
				v=$(pgb "$id.$side.$rep" "$erole" "$escript" "$clients" "$t" -M "$proto" -D run="${rep}1" -D n=0 -D k=0)
				e=$v
			else
				v=$(pgb "$id.$side.$rep" postgres "$bscript" "$clients" "$t" -M "$proto" -D run="${rep}2" -D n=0 -D k=0)
				b=$v
			fi
			echo "$id,$side,$rep,$v" >>"$raw"
		done
		say "  $id rep $rep/$reps: extension $e tps, baseline $b tps"
	done
}

# explain ID ROLE QUERY SIDE: EXPLAIN (ANALYZE, BUFFERS) as ROLE, kept under explain/
explain() {
	local id=$1 role=$2 query=$3 side=$4 f=$out/explain/$1.$4.txt
	{
		echo "-- $side, as role $role"
		echo "-- $query"
		echo
		# warm, then explain, in one session
		psql -X -q -v ON_ERROR_STOP=1 -U "$role" -d "$db" -c '\o /dev/null' -c "$query" -c '\o' \
			-c "EXPLAIN (ANALYZE, BUFFERS) $query"
	} >"$f"
}

# plan_note FILE: "parallel, N workers" or "not parallel"
plan_note() {
	if grep -q 'Gather' "$1"; then
		echo "parallel ($(grep -m1 -oE 'Workers Launched: [0-9]+' "$1" | grep -oE '[0-9]+') workers launched)"
	else
		echo "not parallel"
	fi
}

# query_line ID TITLE BOUND EXT_ROLE EXT_QUERY BASE_QUERY [PROTOCOL]
query_line() {
	local id=$1 title=$2 bound=$3 erole=$4 equery=$5 bquery=$6 proto=${7:-simple}
	printf '%s\n' "$equery" >"$out/scripts/$id.extension.sql"
	printf '%s\n' "$bquery" >"$out/scripts/$id.baseline.sql"
	explain "$id" "$erole" "$equery" extension
	explain "$id" postgres "$bquery" baseline
	line "$id" "$title" latency "<=" "$bound"
	meta "plan_$id" "extension: $(plan_note "$out/explain/$id.extension.txt"); baseline: $(plan_note "$out/explain/$id.baseline.txt")"
	say "$id: $title"
	pair "$id" 1 "$secs" "$erole" "$out/scripts/$id.extension.sql" "$out/scripts/$id.baseline.sql" "" "$proto"
}

meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta scale "$scale"
meta reps "$reps"
meta seconds "$secs"
meta tp_seconds "$tp_secs"
meta nproc "$(nproc)"
meta ram "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
meta cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
meta pg_version "$(psql_su -At -c 'SELECT version()')"
meta loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"

psql_su -c 'CHECKPOINT'

# ---------------------------------------------------------------------------
# Reads under row-level security: extension = the actor's role, no WHERE;
# baseline = superuser (no RLS) with the WHERE the policy stands for.
# ---------------------------------------------------------------------------

say "reads under row-level security (pgbench, 1 client, ${secs} s per run)"
T=$c_typ_customer_id B=$c_big_customer_id
query_line cu_count_typ "SIM count, CUSTOMER user (typical customer: $c_typ_sims SIMs)" 1.15 bench_cu_typ \
	"SELECT count(*) FROM cmp.sim_card;" \
	"SELECT count(*) FROM cmp.sim_card WHERE customer_id = ANY ('{$T}'::bigint[]);"
# the same with prepared statements: what is left when planning (where the
# policies are applied) is not repeated for every query
query_line cu_count_typ_prep "SIM count, CUSTOMER user (typical customer), prepared statements" 1.15 bench_cu_typ \
	"SELECT count(*) FROM cmp.sim_card;" \
	"SELECT count(*) FROM cmp.sim_card WHERE customer_id = ANY ('{$T}'::bigint[]);" prepared
query_line cu_count_big "SIM count, CUSTOMER user (big customer: $c_big_sims SIMs)" 1.15 bench_cu_big \
	"SELECT count(*) FROM cmp.sim_card;" \
	"SELECT count(*) FROM cmp.sim_card WHERE customer_id = ANY ('{$B}'::bigint[]);"
query_line cu_grid1_typ "SIM grid page 1, CUSTOMER user (typical customer)" 1.15 bench_cu_typ \
	"SELECT * FROM cmp.sim_grid ORDER BY iccid LIMIT 50;" \
	"SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{$T}'::bigint[]) ORDER BY iccid LIMIT 50;"
query_line cu_grid1_big "SIM grid page 1, CUSTOMER user (big customer)" 1.15 bench_cu_big \
	"SELECT * FROM cmp.sim_grid ORDER BY iccid LIMIT 50;" \
	"SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{$B}'::bigint[]) ORDER BY iccid LIMIT 50;"
query_line cu_grid2_big "SIM grid page 2, CUSTOMER user (big customer)" 1.15 bench_cu_big \
	"SELECT * FROM cmp.sim_grid WHERE iccid > '$c_big_page2_after' ORDER BY iccid LIMIT 50;" \
	"SELECT * FROM cmp.sim_grid WHERE customer_id = ANY ('{$B}'::bigint[]) AND iccid > '$c_big_page2_after' ORDER BY iccid LIMIT 50;"
# The same pages against the query a DBA would write for a user with one
# customer: customer_id = N (an equality, which the planner carries over to
# the joined customer row and matches to the (customer_id, iccid) index order).
query_line cu_grid1_typ_eq "SIM grid page 1, CUSTOMER user (typical customer) vs customer_id = N" 1.15 bench_cu_typ \
	"SELECT * FROM cmp.sim_grid ORDER BY iccid LIMIT 50;" \
	"SELECT * FROM cmp.sim_grid WHERE customer_id = $T ORDER BY iccid LIMIT 50;"
query_line cu_grid1_big_eq "SIM grid page 1, CUSTOMER user (big customer) vs customer_id = N" 1.15 bench_cu_big \
	"SELECT * FROM cmp.sim_grid ORDER BY iccid LIMIT 50;" \
	"SELECT * FROM cmp.sim_grid WHERE customer_id = $B ORDER BY iccid LIMIT 50;"
query_line cu_grid2_big_eq "SIM grid page 2, CUSTOMER user (big customer) vs customer_id = N" 1.15 bench_cu_big \
	"SELECT * FROM cmp.sim_grid WHERE iccid > '$c_big_page2_after' ORDER BY iccid LIMIT 50;" \
	"SELECT * FROM cmp.sim_grid WHERE customer_id = $B AND iccid > '$c_big_page2_after' ORDER BY iccid LIMIT 50;"
query_line acct_count "SIM count, ACCOUNT user (largest account: $c_acct_sims SIMs)" 1.15 bench_acct \
	"SELECT count(*) FROM cmp.sim_card;" \
	"SELECT count(*) FROM cmp.sim_card WHERE account_id = $c_acct_account_id;"
query_line bulk_count "SIM count, ACCOUNT user (BULK account: $c_bulk_sims SIMs)" 1.15 bench_bulk \
	"SELECT count(*) FROM cmp.sim_card;" \
	"SELECT count(*) FROM cmp.sim_card WHERE account_id = $c_bulk_account_id;"
query_line csp_count "SIM count, CSP user (all $c_total_sims SIMs)" 1.05 bench_csp \
	"SELECT count(*) FROM cmp.sim_card;" \
	"SELECT count(*) FROM cmp.sim_card;"

# ---------------------------------------------------------------------------
# assign_sims of the whole BULK account in one call.
# ---------------------------------------------------------------------------

n_assign=$c_bulk_free
if ((n_assign > 1000000)); then n_assign=1000000; fi
reset_bulk() {
	psql_su -c "UPDATE cmp.sim_card SET customer_id = NULL, assigned_at = NULL
				 WHERE account_id = $c_bulk_account_id AND customer_id IS NOT NULL" \
		-c "DELETE FROM cmp.sim_assignment_history_data WHERE account_id = $c_bulk_account_id" \
		-c "DELETE FROM cmp.audit_log WHERE account_id = $c_bulk_account_id AND operation = 'assign_sims'" \
		-c "DELETE FROM cmp.event WHERE account_id = $c_bulk_account_id AND event_type = 'sims.assigned'" \
		-c "VACUUM cmp.sim_card, cmp.sim_assignment_history_data, cmp.audit_log, cmp.event" \
		-c "CHECKPOINT"
}
probe() { # SIDE [--explain FILE]
	local role=bench_bulk
	[[ $1 == baseline ]] && role=postgres
	python3 "$bench/assign_probe.py" --side "$1" --role "$role" --db "$db" \
		--customer "$c_bulk_customer_id" --actor "$c_bulk_user_id" \
		--g-lo "$c_bulk_g_lo" --count "$n_assign" "${@:2}"
}
say "assign_sims of $n_assign ICCIDs in one call (BULK account), $reps reps per side"
line assign "assign_sims of $n_assign ICCIDs (one call)" seconds "<=" 1.3
line assign_mem "assign_sims of $n_assign ICCIDs: peak backend memory growth" memory_mb "<=" 256
for ((rep = 1; rep <= reps; rep++)); do
	order=(extension baseline)
	((rep % 2)) || order=(baseline extension)
	for side in "${order[@]}"; do
		reset_bulk
		j=$(probe "$side")
		echo "$j" >>"$out/logs/assign.jsonl"
		v=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["seconds"], d.get("anon_growth_mb", ""), d["moved"])' "$j")
		read -r s mem moved <<<"$v"
		if [[ $moved != "$n_assign" ]]; then
			echo "run.sh: the $side run moved $moved SIMs, not $n_assign" >&2
			exit 1
		fi
		echo "assign,$side,$rep,$s" >>"$raw"
		echo "assign_mem,$side,$rep,$mem" >>"$raw"
		printf -v "a_$side" '%s s, +%s MB' "$s" "$mem"
	done
	say "  assign rep $rep/$reps: extension $a_extension, baseline $a_baseline"
done
# the same SIMs again, given as an ICCID range (SPEC §13)
say "assign_sim_range of $n_assign SIMs in one call (BULK account), $reps reps per side"
line assign_range "assign_sim_range of $n_assign SIMs (one call, first and last ICCID)" seconds "<=" 1.3
line assign_range_mem "assign_sim_range of $n_assign SIMs: peak backend memory growth" memory_mb "<=" 256
for ((rep = 1; rep <= reps; rep++)); do
	order=(extension baseline)
	((rep % 2)) || order=(baseline extension)
	for side in "${order[@]}"; do
		reset_bulk
		j=$(probe "$side" --mode range)
		echo "$j" >>"$out/logs/assign_range.jsonl"
		v=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["seconds"], d.get("anon_growth_mb", ""), d["moved"])' "$j")
		read -r s mem moved <<<"$v"
		if [[ $moved != "$n_assign" ]]; then
			echo "run.sh: the $side range run moved $moved SIMs, not $n_assign" >&2
			exit 1
		fi
		echo "assign_range,$side,$rep,$s" >>"$raw"
		echo "assign_range_mem,$side,$rep,$mem" >>"$raw"
		printf -v "a_$side" '%s s, +%s MB' "$s" "$mem"
	done
	say "  assign_range rep $rep/$reps: extension $a_extension, baseline $a_baseline"
done
reset_bulk

say "assign_sims plans (auto_explain, untimed)"
reset_bulk
probe extension --explain "$out/explain/assign.extension.txt" >/dev/null
reset_bulk
probe baseline --explain "$out/explain/assign.baseline.txt" >/dev/null
reset_bulk

# ---------------------------------------------------------------------------
# Throughput of the changing functions (pgbench, 2 clients).  Both sides use
# pgbench's prepared protocol: the baseline's one big statement is planned
# once per connection, as an application would prepare it, and so is the
# extension's SELECT of the function (whose own statements are kept plans).
# ---------------------------------------------------------------------------

A=$c_acct_account_id U=$c_acct_user_id
names="'Bench customer ' || :run || '-' || :client_id || '-' || :n"
cat >"$out/scripts/create_customer.extension.sql" <<EOF
\set n :n + 1
SELECT cmp.create_customer(account_id => $A,
	name => $names,
	status => 'ACTIVE', external_customer_number => 'B' || :run || '-' || :client_id || '-' || :n,
	country => 'DE', city => 'Berlin', street => 'Benchstrasse 1', zip_code => '10115',
	admin_login => 'bench.c' || :run || '-' || :client_id || '-' || :n || '.admin',
	admin_email => 'admin' || :run || '-' || :client_id || '-' || :n || '@bench-customers.example',
	admin_full_name => 'Bench Admin');
EOF
cat >"$out/scripts/create_customer.baseline.sql" <<EOF
\set n :n + 1
WITH acct AS (
	UPDATE cmp.account SET last_customer_number = last_customer_number + 1
	 WHERE account_id = $A
	RETURNING account_id, account_type, last_customer_number),
adm AS (
	INSERT INTO cmp.app_user_data (login, email, full_name, is_admin, context_level, domain, account_id, created_by)
	VALUES ('bench.c' || :run || '-' || :client_id || '-' || :n || '.admin',
			'admin' || :run || '-' || :client_id || '-' || :n || '@bench-customers.example',
			'Bench Admin', true, 'CUSTOMER', 'ENTERPRISE', $A, $U)
	RETURNING user_id),
c AS (
	INSERT INTO cmp.customer AS c (account_id, account_type, customer_number, name,
			external_customer_number, country, city, street, zip_code, status, admin_user_id,
			created_by, activated_at, activated_by)
	SELECT acct.account_id, acct.account_type, acct.last_customer_number, $names,
		   'B' || :run || '-' || :client_id || '-' || :n, 'DE', 'Berlin', 'Benchstrasse 1', '10115',
		   'ACTIVE', adm.user_id, $U, now(), $U
	  FROM acct, adm
	RETURNING c.customer_id, c.account_id, c.admin_user_id, to_jsonb(c.*) AS j),
uc AS (
	INSERT INTO cmp.user_customer (user_id, customer_id, account_id, assigned_by)
	SELECT c.admin_user_id, c.customer_id, c.account_id, $U FROM c),
h AS (
	INSERT INTO cmp.customer_status_history (customer_id, account_id, from_status, to_status,
			changed_by, db_role, reason)
	SELECT c.customer_id, c.account_id, NULL, 'ACTIVE', $U, current_user, 'created' FROM c)
INSERT INTO cmp.audit_log (actor_user_id, db_role, operation, resource_type, resource_id,
		account_id, customer_id, new_value)
SELECT $U, current_user, 'create_customer', 'customer', c.customer_id::text, c.account_id,
	   c.customer_id, c.j
  FROM c;
EOF
prep_writes() {
	psql_su -c 'VACUUM cmp.account, cmp.customer, cmp.app_user_data, cmp.user_customer, cmp.customer_status_history, cmp.audit_log' \
		-c 'CHECKPOINT'
}
line create_customer "create_customer with admin user (2 clients)" tps ">=" 0.5
say "create_customer throughput (pgbench -M prepared, 2 clients, ${tp_secs} s per run)"
pair create_customer 2 "$tp_secs" bench_acct "$out/scripts/create_customer.extension.sql" \
	"$out/scripts/create_customer.baseline.sql" prep_writes prepared

L=$c_toggle_lo H=$((c_toggle_n / 2))
toggle="\\set cid $L + :client_id + 2 * ((:k - 1) % $H)
\\set par ((:k - 1) / $H) % 2"
cat >"$out/scripts/set_customer_status.extension.sql" <<EOF
-- each client toggles its own half of the $c_toggle_n toggle customers,
-- round by round: ACTIVE -> SUSPENDED, then back
\\set k :k + 1
$toggle
SELECT cmp.set_customer_status(customer_id => :cid,
	status => (ARRAY['SUSPENDED', 'ACTIVE'])[:par + 1], reason => 'benchmark');
EOF
cat >"$out/scripts/set_customer_status.baseline.sql" <<EOF
\\set k :k + 1
$toggle
WITH u AS (
	UPDATE cmp.customer
	   SET status = (ARRAY['SUSPENDED', 'ACTIVE'])[:par + 1], updated_at = now(), updated_by = $U
	 WHERE customer_id = :cid
	RETURNING customer_id, account_id, status)
INSERT INTO cmp.customer_status_history (customer_id, account_id, from_status, to_status,
		changed_by, db_role, reason)
SELECT customer_id, account_id, (ARRAY['ACTIVE', 'SUSPENDED'])[:par + 1], status, $U,
	   current_user, 'benchmark'
  FROM u;
EOF
prep_toggle() {
	psql_su -c "UPDATE cmp.customer SET status = 'ACTIVE'
				 WHERE customer_id BETWEEN $L AND $((L + c_toggle_n - 1)) AND status <> 'ACTIVE'"
	prep_writes
}
line set_customer_status "set_customer_status ACTIVE <-> SUSPENDED (2 clients)" tps ">=" 0.5
say "set_customer_status throughput (pgbench -M prepared, 2 clients, ${tp_secs} s per run)"
pair set_customer_status 2 "$tp_secs" bench_acct "$out/scripts/set_customer_status.extension.sql" \
	"$out/scripts/set_customer_status.baseline.sql" prep_toggle prepared

# ---------------------------------------------------------------------------
# import_customers (SPEC §13): 10,000 customers with their admin users in
# one call, against the same rows written by hand: the create_customer
# baseline's INSERT set, 10,000 times in one DO block.  Seconds per side;
# the bound is the throughput's (>= 0.5x), i.e. at most twice the time.
# ---------------------------------------------------------------------------

n_import=${RO_BENCH_IMPORT:-10000}
import_probe() { # SIDE REP -> seconds
	local side=$1 rep=$2 tag="i$2${1:0:1}"
	local names="'Import ' || '$tag' || '-' || g"
	if [[ $side == extension ]]; then
		psql -X -q -v ON_ERROR_STOP=1 -U bench_acct -d "$db" 2>&1 <<EOF | sed -nE 's/.*NOTICE:  SECONDS ([0-9.]+).*/\1/p'
DO \$\$
DECLARE t0 timestamptz; j jsonb; n bigint;
BEGIN
	j := (SELECT jsonb_agg(jsonb_build_object('account_id', $A, 'name', $names,
			'status', 'ACTIVE', 'country', 'DE', 'city', 'Berlin', 'street', 'Benchstrasse 1',
			'zip_code', '10115', 'admin_login', 'imp.$tag.' || g || '.admin',
			'admin_email', 'imp.$tag.' || g || '@bench-customers.example',
			'admin_full_name', 'Bench Admin')) FROM generate_series(1, $n_import) g);
	t0 := clock_timestamp();
	SELECT count(customer_id) INTO n FROM cmp.import_customers(j);
	SET CONSTRAINTS ALL IMMEDIATE;
	IF n <> $n_import THEN RAISE EXCEPTION 'imported % of $n_import', n; END IF;
	RAISE NOTICE 'SECONDS %', extract(epoch FROM clock_timestamp() - t0);
END \$\$;
EOF
	else
		psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "$db" 2>&1 <<EOF | sed -nE 's/.*NOTICE:  SECONDS ([0-9.]+).*/\1/p'
DO \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	FOR g IN 1..$n_import LOOP
		WITH acct AS (
			UPDATE cmp.account SET last_customer_number = last_customer_number + 1
			 WHERE account_id = $A
			RETURNING account_id, account_type, last_customer_number),
		adm AS (
			INSERT INTO cmp.app_user_data (login, email, full_name, is_admin, context_level, domain, account_id, created_by)
			VALUES ('imp.$tag.' || g || '.admin', 'imp.$tag.' || g || '@bench-customers.example',
					'Bench Admin', true, 'CUSTOMER', 'ENTERPRISE', $A, $U)
			RETURNING user_id),
		c AS (
			INSERT INTO cmp.customer AS c (account_id, account_type, customer_number, name,
					country, city, street, zip_code, status, admin_user_id,
					created_by, activated_at, activated_by)
			SELECT acct.account_id, acct.account_type, acct.last_customer_number, $names,
				   'DE', 'Berlin', 'Benchstrasse 1', '10115', 'ACTIVE', adm.user_id, $U, now(), $U
			  FROM acct, adm
			RETURNING c.customer_id, c.account_id, c.admin_user_id, to_jsonb(c.*) AS j),
		uc AS (
			INSERT INTO cmp.user_customer (user_id, customer_id, account_id, assigned_by)
			SELECT c.admin_user_id, c.customer_id, c.account_id, $U FROM c),
		h AS (
			INSERT INTO cmp.customer_status_history (customer_id, account_id, from_status, to_status,
					changed_by, db_role, reason)
			SELECT c.customer_id, c.account_id, NULL, 'ACTIVE', $U, current_user, 'created' FROM c)
		INSERT INTO cmp.audit_log (actor_user_id, db_role, operation, resource_type, resource_id,
				account_id, customer_id, new_value)
		SELECT $U, current_user, 'create_customer', 'customer', c.customer_id::text, c.account_id,
			   c.customer_id, c.j
		  FROM c;
	END LOOP;
	RAISE NOTICE 'SECONDS %', extract(epoch FROM clock_timestamp() - t0);
END \$\$;
EOF
	fi
}
say "import_customers of $n_import customers with admin users, $reps reps per side"
line import "import_customers of $n_import customers with admin users (one call; bound: >= 0.5x the throughput)" seconds "<=" 2.0
for ((rep = 1; rep <= reps; rep++)); do
	order=(extension baseline)
	((rep % 2)) || order=(baseline extension)
	for side in "${order[@]}"; do
		prep_writes >/dev/null
		s=$(import_probe "$side" "$rep")
		if [[ -z $s ]]; then
			echo "run.sh: the $side import run failed" >&2
			exit 1
		fi
		echo "import,$side,$rep,$s" >>"$raw"
		printf -v "i_$side" '%s s' "$s"
	done
	say "  import rep $rep/$reps: extension $i_extension, baseline $i_baseline"
done

# ---------------------------------------------------------------------------
# The change feed (SPEC §11): one consumer of bench_acct's account reading
# 1,000 events per call, against the same page of cmp.event written by hand
# (superuser, the WHERE the visibility stands for).  Both read the account's
# oldest 1,000 events again and again: the consumer does not acknowledge.
# The writes above made the events.
# ---------------------------------------------------------------------------

n_acct_events=$(psql_su -At -c "SELECT count(*) FROM cmp.event WHERE account_id = $A")
meta acct_events "$n_acct_events"
if ((n_acct_events < 1000)); then
	echo "run.sh: account $A has only $n_acct_events events; the read_events line needs 1,000" >&2
	exit 1
fi
psql -X -q -v ON_ERROR_STOP=1 -U bench_acct -d "$db" \
	-c "SELECT cmp.drop_event_consumer('bench') FROM cmp.event_consumer WHERE name = 'bench'" \
	-c "SELECT cmp.create_event_consumer('bench')" >/dev/null
cat >"$out/scripts/read_events.extension.sql" <<EOF
SELECT * FROM cmp.read_events('bench', 1000);
EOF
cat >"$out/scripts/read_events.baseline.sql" <<EOF
SELECT * FROM cmp.event WHERE event_id > 0 AND account_id = $A ORDER BY event_id LIMIT 1000;
EOF
line read_events "read_events, 1,000 events per call, one consumer (ACCOUNT user; calls/s x 1,000 = events/s)" tps ">=" 0.8
say "read_events throughput (pgbench -M prepared, 1 client, ${tp_secs} s per run)"
pair read_events 1 "$tp_secs" bench_acct "$out/scripts/read_events.extension.sql" \
	"$out/scripts/read_events.baseline.sql" "" prepared

# ---------------------------------------------------------------------------
# Portal requests as applications make them (SPEC §9): one transaction per
# request on a pooled connection, a different CUSTOMER user each time.
# Both sides make the same statements: BEGIN, the look-up of the request's
# user (pgbench \gset), setting who acts, the grid page, COMMIT.  The
# extension sets the actor with cmp.set_actor(u) as the connection role
# bench_portal and reads the grid through row-level security; the baseline,
# as superuser, sets the user id with set_config and writes the page with
# customer_id = N.  Simple protocol (every statement planned) and prepared
# protocol (what drivers do); then both again while one client of another
# account keeps changing customer statuses.
# ---------------------------------------------------------------------------

psql_su >"$out/logs/portal.log" <<EOF
DO \$\$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_portal') THEN
		CREATE ROLE bench_portal LOGIN;
	END IF;
END \$\$;
GRANT EXECUTE ON FUNCTION cmp.set_actor(bigint, boolean) TO bench_portal;
GRANT USAGE ON SCHEMA bench TO bench_portal;
DROP TABLE IF EXISTS bench.portal;
-- up to 2,000 ACTIVE customer users of one ACTIVE customer each, outside
-- the account the writer changes
CREATE TABLE bench.portal AS
SELECT row_number() OVER (ORDER BY u.user_id) AS i, u.user_id, min(uc.customer_id) AS customer_id
  FROM cmp.app_user u
  JOIN cmp.user_customer uc USING (user_id)
  JOIN cmp.customer c ON c.customer_id = uc.customer_id AND c.status = 'ACTIVE'
 WHERE u.context_level = 'CUSTOMER' AND u.status = 'ACTIVE' AND u.account_id <> $c_acct_account_id
 GROUP BY u.user_id
HAVING count(*) = 1
 ORDER BY u.user_id
 LIMIT 2000;
ALTER TABLE bench.portal ADD PRIMARY KEY (i);
GRANT SELECT ON bench.portal TO bench_portal;
ANALYZE bench.portal;
EOF
n_portal=$(psql_su -At -c 'SELECT count(*) FROM bench.portal')
meta portal_users "$n_portal"
cat >"$out/scripts/portal.extension.sql" <<EOF
\set i random(1, $n_portal)
BEGIN;
SELECT user_id AS u, customer_id AS c FROM bench.portal WHERE i = :i \gset
SELECT cmp.set_actor(:u);
SELECT * FROM cmp.sim_grid ORDER BY iccid LIMIT 50;
COMMIT;
EOF
cat >"$out/scripts/portal.baseline.sql" <<EOF
\set i random(1, $n_portal)
BEGIN;
SELECT user_id AS u, customer_id AS c FROM bench.portal WHERE i = :i \gset
SELECT set_config('app.user_id', :u::text, true);
SELECT * FROM cmp.sim_grid WHERE customer_id = :c ORDER BY iccid LIMIT 50;
COMMIT;
EOF
# the writer: customer statuses in bench_acct's account, one client
cat >"$out/scripts/portal.writer.sql" <<EOF
\\set k :k + 1
$toggle
SELECT cmp.set_customer_status(customer_id => :cid,
	status => (ARRAY['SUSPENDED', 'ACTIVE'])[:par + 1], reason => 'benchmark');
EOF
writer_pid=
start_writer() {
	prep_toggle >/dev/null
	pgbench -n -U bench_acct -f "$out/scripts/portal.writer.sql" -c 1 -j 1 -T 100000 \
		-D k=0 -D run=9 -D n=0 "$db" >"$out/logs/portal.writer.log" 2>&1 &
	writer_pid=$!
	sleep 1
}
stop_writer() {
	if [[ -n $writer_pid ]]; then
		kill -TERM "$writer_pid" 2>/dev/null
		wait "$writer_pid" 2>/dev/null || true
	fi
	writer_pid=
}
for proto in simple prepared; do
	line "portal_$proto" "portal request, a CUSTOMER user per transaction ($proto protocol, 2 clients)" tps ">=" 0.8
	say "portal requests, $proto protocol (pgbench, 2 clients, ${tp_secs} s per run, $n_portal users)"
	pair "portal_$proto" 2 "$tp_secs" bench_portal "$out/scripts/portal.extension.sql" \
		"$out/scripts/portal.baseline.sql" "" "$proto"
done
for proto in simple prepared; do
	line "portal_writer_$proto" "portal request under a status writer in another account ($proto protocol, 2 clients)" tps ">=" 0.8
	say "portal requests under a writer, $proto protocol (pgbench, 2 clients + 1 writer, ${tp_secs} s per run)"
	start_writer
	pair "portal_writer_$proto" 2 "$tp_secs" bench_portal "$out/scripts/portal.extension.sql" \
		"$out/scripts/portal.baseline.sql" "" "$proto"
	stop_writer
done

# the nested plans of one call of each, for the reader (untimed, rolled back)
say "create_customer / set_customer_status plans (auto_explain, untimed)"
prep_toggle
for f in create_customer set_customer_status; do
	for side in extension baseline; do
		sql=$(sed -E -e '/^\\set/d' -e '/^--/d' \
			-e "s/:run/0/g; s/:client_id/9/g; s/:n/1/g; s/:cid/$L/g; s/:par/0/g" \
			"$out/scripts/$f.$side.sql")
		actor=''
		[[ $side == extension ]] && actor="SET cmp.actor = '$U';"
		{
			echo "-- $side, one call; auto_explain (ANALYZE, BUFFERS, nested statements), rolled back"
			echo
			psql -X -q -U postgres -d "$db" -v ON_ERROR_STOP=1 2>&1 <<EOF
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
BEGIN;
$actor
$sql
ROLLBACK;
EOF
		} >"$out/explain/$f.$side.txt"
	done
done

meta loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta total_seconds "$(($(date +%s) - t_start))"

say "writing $out/results.md, results.csv, ratios.svg"
python3 "$bench/report.py" "$out"
echo
cat "$out/table.md"
