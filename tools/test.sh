#!/usr/bin/env bash
# tools/test.sh -- THE test command: build, install, start a throwaway
# cluster, run every suite, and end with one line `N passed, M failed`.
#
#   bash tools/test.sh
#
# Suites, each skipped when it has no tests:
#   pg_regress  sql/*.sql (minus the install script) against expected/*.out;
#               counts tests
#   pgTAP       test/*.sql, one fresh database per file with pgtap and the
#               extension created; counts assertions
#   isolation   test/isolation/specs/*.spec against test/isolation/expected;
#               counts specs
#   extra       executable test/suites/*.sh; each must end its output with
#               `N passed, M failed`, which is added to the totals
#
# Exit status is non-zero when anything failed, when a runner crashed (its
# results could not be counted), or when nothing at all passed.
#
# Environment: RO_PORT (default 55432), RO_PG_OPTS (extra postgres -c
# settings).  On failure the outputs are copied to tmp_check/ in the repo.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"

pgxs_test=/usr/lib/postgresql/15/lib/pgxs/src/test
passed=0 failed=0 crashed=0

# summary: the last line of output, and the exit status.
summary() {
	echo
	if ((crashed)); then
		echo "note: $crashed runner(s) crashed; their tests count as failed"
	fi
	echo "$passed passed, $failed failed"
	if ((failed > 0 || crashed > 0 || passed == 0)); then
		return 1
	fi
	return 0
}

# crash WHAT -- a runner died before it could tell us what passed.
crash() {
	echo "!! $1"
	crashed=$((crashed + 1))
	failed=$((failed + 1))
}

# indent -- show a runner's own output set off from ours, so that only our
# final line starts a line with "N passed".
indent() { sed 's/^/    /'; }

save_outputs() {
	# Outputs live in the cluster dir, which the EXIT trap deletes; keep a
	# copy where CI (and people) can look at them.
	rm -rf "$repo/tmp_check"
	mkdir -p "$repo/tmp_check"
	cp -a "$RO_CLUSTER_DIR/out/." "$repo/tmp_check/" 2>/dev/null || true
	cp "$RO_CLUSTER_DIR/postgres.log" "$repo/tmp_check/" 2>/dev/null || true
	echo "outputs and server log saved in $repo/tmp_check/"
}

# Outputs of an earlier failed run would only mislead.
rm -rf "$repo/tmp_check"

echo "== setup =="
if ! bash "$repo/tools/setup.sh"; then
	crash "setup (package install or extension build) failed"
	summary
	exit 1
fi

# Stop and remove the cluster however we leave; INT/TERM go through exit so
# that the EXIT trap runs.
trap 'cluster_stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== cluster =="
# max_prepared_transactions: isolation specs may use two-phase commit.
if ! cluster_start -c max_prepared_transactions=10; then
	crash "could not start a cluster"
	summary
	exit 1
fi
echo "cluster in $RO_CLUSTER_DIR, port $PGPORT"

src=$(cluster_copy_repo "$repo")
out=$RO_CLUSTER_DIR/out
as_pg mkdir -p "$out/pgtap"
# The runners resolve relative paths (\i in tests) against the copy.
cd "$src"

# run_regress_suite LABEL RUNNER INPUTDIR DBNAME NAME... -- run a
# pg_regress-style suite (pg_regress or pg_isolation_regress), count it and
# show what differed.  INPUTDIR holds the expected/ directory.
run_regress_suite() {
	local label=$1 runner=$2 inputdir=$3 db=$4
	shift 4
	local -a ready=() orphans=()
	local t rc=0 ok=0 bad=0 result=0 log=$out/$label.log

	# A test without expected output makes the runner abort mid-suite, so
	# such tests are run apart (below), only to produce the output to review.
	for t in "$@"; do
		if [[ -f $inputdir/expected/$t.out ]]; then
			ready+=("$t")
		else
			orphans+=("$t")
		fi
	done

	if ((${#ready[@]})); then
		as_pg "$runner" --inputdir="$inputdir" --outputdir="$out/$label" \
			--bindir="$RO_PG_BINDIR" \
			--host="$PGHOST" --port="$PGPORT" --user=postgres \
			--dbname="$db" "${ready[@]}" >"$log" 2>&1 || rc=$?

		# PG15 prints one line per test: `test foo  ... ok  12 ms` or
		# `test foo  ... FAILED  12 ms` (`     foo ...` in parallel groups).
		grep -E ' \.\.\. ' "$log" | indent || true
		ok=$(grep -cE '^(test| ) +[^ ].* \.\.\. ok( |$)' "$log" || true)
		bad=$(grep -cE '^(test| ) +[^ ].* \.\.\. FAILED( |$)' "$log" || true)
		passed=$((passed + ok))
		failed=$((failed + bad))

		if ((ok + bad < ${#ready[@]})); then
			# Tests that never reported: server died, no database...
			echo "--- $label output ---"
			indent <"$log"
			echo "!! $label: only $((ok + bad)) of ${#ready[@]} tests reported (exit $rc)"
			crashed=$((crashed + 1))
			failed=$((failed + ${#ready[@]} - ok - bad))
			bad=$((${#ready[@]} - ok))
			result=1
		elif ((rc != 0 && bad == 0)); then
			indent <"$log"
			crash "$label exited with status $rc but reported no failure"
			bad=1
			result=1
		fi
		if ((bad > 0)) && [[ -s $out/$label/regression.diffs ]]; then
			echo "--- $label: regression.diffs ---"
			cat "$out/$label/regression.diffs"
			result=1
		fi
	fi

	for t in "${orphans[@]}"; do
		as_pg "$runner" --inputdir="$inputdir" --outputdir="$out/$label-unexpected" \
			--bindir="$RO_PG_BINDIR" \
			--host="$PGHOST" --port="$PGPORT" --user=postgres \
			--dbname="$db" "$t" >/dev/null 2>&1 || true
		echo "!! $label: $t has no expected/$t.out; its output will be in" \
			"tmp_check/$label-unexpected/results/$t.out"
		bad=$((bad + 1))
		failed=$((failed + 1))
		result=1
	done

	echo "$label: $ok passed, $bad failed"
	return "$result"
}

any_failure=0
shopt -s nullglob

# ---- pg_regress ------------------------------------------------------------
regress=()
for f in sql/*.sql; do
	name=$(basename "$f" .sql)
	[[ $name == reseller_onboarding--* ]] && continue # the install script
	regress+=("$name")
done

echo
echo "== pg_regress (${#regress[@]} tests) =="
if ((${#regress[@]} == 0)); then
	echo "no tests in sql/; skipped"
else
	run_regress_suite pg_regress "$pgxs_test/regress/pg_regress" "$src" regress_ro \
		"${regress[@]}" || any_failure=1
fi

# count_tap FILE -- print "passed failed top-level-results plan" for the
# TAP that `pg_prove --verbose` printed (plan is -1 when there was none).
# Assertions are counted at the leaves: pgTAP's runtests() reports each
# test function as a subtest (indented assertions, then a top-level line
# summing them up), and the summary is not counted again unless it failed
# with no failed assertion under it (the function died).  `not ok ... # TODO`
# is an expected failure and counts neither way.
count_tap() {
	awk '
		BEGIN { plan = -1; prev = 0 }
		function depth(s) { match(s, /^ */); return RLENGTH }
		/^ *(not )?ok [0-9]+/ || /^ *1[.][.][0-9]+/ {
			d = depth($0); line = substr($0, d + 1)
			if (line ~ /^1[.][.]/) {
				if (d == 0 && plan < 0) plan = substr(line, 4) + 0
				prev = d; next
			}
			failed = (line ~ /^not ok/)
			todo = (line ~ /#[ \t]*[Tt][Oo][Dd][Oo]/)
			if (d == 0) top++
			if (prev > d) {			# summary line of a subtest
				if (failed && !todo && subfail == 0) bad++
				subfail = 0
			} else if (failed && !todo) {
				bad++; if (d > 0) subfail++
			} else if (!failed) {
				ok++
			}
			prev = d
		}
		END { print ok + 0, bad + 0, top + 0, plan }
	' "$1"
}

# ---- pgTAP -----------------------------------------------------------------
tap_files=(test/*.sql)
echo
echo "== pgTAP (${#tap_files[@]} files) =="
if ((${#tap_files[@]} == 0)); then
	echo "no tests in test/; skipped"
else
	tap_ok=0 tap_bad=0 i=0
	for f in "${tap_files[@]}"; do
		i=$((i + 1))
		name=$(basename "$f" .sql)
		db=tap_${i}_${name//[^A-Za-z0-9_]/_}
		db=${db:0:63}
		log=$out/pgtap/$name.tap

		# A fresh database per file: no file can lean on another's leftovers.
		if ! { as_pg "$RO_PG_BINDIR/createdb" "$db" &&
			as_pg "$RO_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" \
				-c 'CREATE EXTENSION pgtap' \
				-c 'CREATE EXTENSION reseller_onboarding'; } >"$log" 2>&1; then
			echo "!! $f: could not prepare database $db"
			indent <"$log"
			crashed=$((crashed + 1))
			tap_bad=$((tap_bad + 1))
			any_failure=1
			continue
		fi

		rc=0
		as_pg pg_prove --verbose --nocolor --psql-bin "$RO_PG_BINDIR/psql" \
			-h "$PGHOST" -p "$PGPORT" -U postgres -d "$db" "$f" \
			>"$log" 2>&1 || rc=$?

		read -r ok bad top plan < <(count_tap "$log")
		note=""
		if ((plan >= 0 && top < plan)); then
			# Died mid-file: the tests that never ran are failures.
			missing=$((plan - top))
			bad=$((bad + missing))
			note=" ($missing planned tests did not run)"
			crashed=$((crashed + 1))
		elif ((rc != 0 && bad == 0)); then
			# e.g. no plan, or an SQL error outside any assertion
			bad=1
			note=" (pg_prove exit $rc without a failed assertion)"
			crashed=$((crashed + 1))
		fi
		tap_ok=$((tap_ok + ok))
		tap_bad=$((tap_bad + bad))
		echo "  $f: $ok passed, $bad failed$note"
		if ((bad > 0)); then
			any_failure=1
			indent <"$log"
		fi
	done
	passed=$((passed + tap_ok))
	failed=$((failed + tap_bad))
	echo "pgTAP: $tap_ok passed, $tap_bad failed"
fi

# ---- isolation -------------------------------------------------------------
specs=()
for f in test/isolation/specs/*.spec; do
	specs+=("$(basename "$f" .spec)")
done
echo
echo "== isolation (${#specs[@]} specs) =="
if ((${#specs[@]} == 0)); then
	echo "no specs in test/isolation/specs/; skipped"
else
	run_regress_suite isolation "$pgxs_test/isolation/pg_isolation_regress" \
		"$src/test/isolation" iso_ro "${specs[@]}" || any_failure=1
fi

# ---- extra suites ----------------------------------------------------------
suites=() skipped=()
for f in "$repo"/test/suites/*.sh; do
	if [[ -x $f ]]; then suites+=("$f"); else skipped+=("$f"); fi
done
echo
echo "== extra suites (${#suites[@]}) =="
for f in "${skipped[@]}"; do
	echo "warning: $f is not executable; not run"
done
if ((${#suites[@]} == 0)); then
	echo "no executable test/suites/*.sh; skipped"
else
	# Suites run as root from the repo; they get the cluster via PG* and may
	# `source tools/cluster.sh` and use as_pg, or read the copy in RO_SRC.
	export RO_SRC=$src RO_REPO=$repo RO_CLUSTER_DIR PGHOST PGPORT PGUSER
	for f in "${suites[@]}"; do
		name=$(basename "$f" .sh)
		log=$out/suite-$name.log
		rc=0
		(cd "$repo" && "$f") >"$log" 2>&1 || rc=$?
		indent <"$log"
		last=$(grep -v '^[[:space:]]*$' "$log" | tail -n1 || true)
		if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed[[:space:]]*$ ]]; then
			ok=${BASH_REMATCH[1]} bad=${BASH_REMATCH[2]}
			passed=$((passed + ok))
			failed=$((failed + bad))
			echo "  $name: $ok passed, $bad failed"
			((bad == 0)) || any_failure=1
			if ((rc != 0 && bad == 0)); then
				crash "$name exited with status $rc but reported no failure"
				any_failure=1
			fi
		else
			crash "$name (exit $rc) did not end with 'N passed, M failed'"
			any_failure=1
		fi
	done
fi

if ((any_failure || crashed)); then
	echo
	save_outputs
fi
summary
