#!/usr/bin/env bash
# test/suites/bad_input.sh -- SPEC §10 "Bad input": every function, fed
# NULLs, empty and huge strings, control characters, quotes, wrong formats,
# out-of-range numbers, arrays with NULLs, duplicates and a million
# elements, answers with a documented SQLSTATE (§8) and never crashes the
# server.
#
# The sweep is generated from the catalog: for every function of schema cmp
# (pg_proc), every input argument, every bad value of the argument's type
# (bad_input/setup.sql: bad_value), the function is called with that
# argument bad and every other one valid (valid_default), plus one call
# with every argument valid and a few hand-written combinations
# (bad_input/driver.sql: extra_call).  Three passes run the calls:
#   system   the superuser with no actor (the system actor)
#   account  a non-superuser role with the ACCOUNT admin of the fixture's
#            reseller as its session actor (the permission paths)
#   customer the same role with a Customer Admin User as actor; every call
#            but the million-element ones
# Each call runs in its own subtransaction (a success is rolled back too, so
# every call meets the same fixture) inside a PL/pgSQL procedure that
# commits a 'pending' row before the call and the outcome after it.  A call
# that takes the server down leaves its 'pending' row behind; the script
# then waits for the server, records the crash with the server log's lines
# and resumes after the culprit.  A call still running after
# $RO_BAD_INPUT_TIMEOUT seconds (default 300) is cancelled and counted as a
# hang.
#
# One check per call: it passes when the call succeeded or raised one of
# 42501 P0002 22004 22023 23505 55000, the row counts of every cmp table are
# the same before and after it, and the actor and current_user are the same
# before and after it.  Crashes, hangs and other SQLSTATEs fail, each
# listed with its call.  Gaps of the sweep itself (a type with no bad values,
# a value that does not evaluate) fail too, and so does a server log line
# about a crash that no call accounts for.
#
# The error fields (SPEC §8), read with GET STACKED DIAGNOSTICS by the
# driver: every refusal with SQLSTATE 22004 or 22023 of a call with one
# argument bad carries column_name, or, a rule refusal, constraint_name (a
# rule may span arguments); refusals of a pair given without its other half
# are left out.  One check, listing the offenders by function and argument.
# And every column_name reported names a column of cmp.table_name; one check.
#
# Run by tools/test.sh with PGHOST/PGPORT/PGUSER and RO_CLUSTER_DIR (the
# server log is $RO_CLUSTER_DIR/postgres.log); ends with `N passed, M failed`.
# RO_BAD_INPUT_HEAVY=0 leaves out the million-element calls (a quick run).
# RO_BAD_INPUT_KEEP=1 keeps the database (bad_input.verdict has every call)
# and its roles for a look afterwards.
set -uo pipefail

export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sqldir=$here/bad_input
# shellcheck source=test/suites/lib/report.sh
source "$here/lib/report.sh"
timeout=${RO_BAD_INPUT_TIMEOUT:-300}
max_restarts=${RO_BAD_INPUT_MAX_RESTARTS:-30}
documented=(42501 P0002 22004 22023 23505 55000)	# SPEC §8

suffix=$$
db=ro_bad_input_$suffix
app_role=ro_bi_app_$suffix
spare_role=ro_bi_spare_$suffix
mapped_role=ro_bi_mapped_$suffix
nosuch_role=ro_bi_nosuch_$suffix
work=$(mktemp -d)
log=${RO_CLUSTER_DIR:+$RO_CLUSTER_DIR/postgres.log}
log_start=0
if [[ -n $log && -r $log ]]; then
	log_start=$(stat -c %s "$log")
else
	echo "warning: server log ${log:-(RO_CLUSTER_DIR unset)} is not readable;" \
		"crashes are detected through the connection only"
	log=
fi
t_start=$(date +%s)

passed=0
failed=0
watchdog_pid=

# shellcheck disable=SC2317  # (called by the EXIT trap)
cleanup() {
	if [[ -n $watchdog_pid ]]; then
		kill "$watchdog_pid" 2>/dev/null
		wait "$watchdog_pid" 2>/dev/null
	fi
	if [[ -n ${RO_BAD_INPUT_KEEP:-} ]]; then
		echo "kept database $db and roles $app_role $spare_role $mapped_role (RO_BAD_INPUT_KEEP)" >&2
	else
		dropdb --if-exists "$db" >/dev/null 2>&1
		local r
		for r in "$app_role" "$spare_role" "$mapped_role"; do
			psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

finish() {
	echo
	echo "runtime: $(($(date +%s) - t_start)) s"
	echo "$passed passed, $failed failed"
	((failed == 0)) && exit 0
	exit 1
}

# q SQL -- one value or rows, unaligned, no headers.
q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"
}

# wait_for_server -- after a crash the server restarts and recovers.
wait_for_server() {
	for _ in $(seq 1 120); do
		if psql -X -q -At -d "$db" -c 'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		sleep 1
	done
	return 1
}

# new_log_lines FROM -- server log lines written since byte offset FROM.
new_log_lines() {
	[[ -n $log ]] || return 0
	tail -c +"$(($1 + 1))" "$log" 2>/dev/null
}

# crash_lines -- the lines of a log excerpt (stdin) that tell of a crash.
crash_lines() {
	grep -E 'terminated by signal|exited with exit code|PANIC|TRAP:|Failed process was running|ERROR: +AddressSanitizer|runtime error:|terminating any other active server processes' || true
}

# ---------------------------------------------------------------------------
# Setup: roles, database, extension, fixture, the generated calls
# ---------------------------------------------------------------------------
echo "== bad input sweep: setup =="
if ! psql -X -q -v ON_ERROR_STOP=1 -d postgres \
	-c "CREATE ROLE $app_role NOLOGIN" \
	-c "CREATE ROLE $spare_role NOLOGIN" \
	-c "CREATE ROLE $mapped_role NOLOGIN" >"$work/setup.log" 2>&1 ||
	! createdb "$db" >>"$work/setup.log" 2>&1 ||
	! psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
		-v app_role="$app_role" -v spare_role="$spare_role" \
		-v mapped_role="$mapped_role" -v nosuch_role="$nosuch_role" \
		-f "$sqldir/setup.sql" -f "$sqldir/driver.sql" >>"$work/setup.log" 2>&1; then
	echo "not ok - setup (database, extension, fixture, generated calls)"
	sed 's/^/#   /' "$work/setup.log"
	failed=$((failed + 1))
	finish
fi
echo "ok - setup"
passed=$((passed + 1))

q "SELECT format('%s functions, %s arguments, %s bad values; %s calls per pass (%s with a million elements)',
		(SELECT count(DISTINCT sig) FROM bad_input.calls WHERE pass = 'system'),
		(SELECT count(DISTINCT (sig, argpos)) FROM bad_input.calls WHERE pass = 'system' AND argpos > 0),
		(SELECT count(*) FROM bad_input.bad_value),
		(SELECT count(*) FROM bad_input.calls WHERE pass = 'system'),
		(SELECT count(*) FROM bad_input.calls WHERE pass = 'system' AND heavy))"
if [[ ${RO_BAD_INPUT_HEAVY:-1} == 0 ]]; then
	echo "RO_BAD_INPUT_HEAVY=0: the $(q "SELECT count(*) FROM bad_input.calls WHERE heavy") million-element calls are left out"
	q "DELETE FROM bad_input.calls WHERE heavy" >/dev/null
fi
counts_initial=$(q "SELECT bad_input.counts()")
aadm=$(q "SELECT id FROM bad_input.fx WHERE key = 'aadm'")
ca_admin=$(q "SELECT id FROM bad_input.fx WHERE key = 'ca_admin'")

# ---------------------------------------------------------------------------
# The passes
# ---------------------------------------------------------------------------

# watchdog -- cancel a call that runs longer than $timeout seconds, then
# terminate its backend if the cancel is not honoured.
watchdog() {
	local row id pid
	while sleep 5; do
		row=$(psql -X -q -At -F ' ' -d "$db" -c "
			SELECT call_id, backend_pid FROM bad_input.results
			 WHERE outcome = 'pending'
			   AND started_at < clock_timestamp() - interval '$timeout seconds'" 2>/dev/null) || continue
		[[ -n $row ]] || continue
		read -r id pid <<<"$row"
		echo "$id" >"$work/hung"
		psql -X -q -At -d "$db" -c "SELECT pg_cancel_backend($pid)" >/dev/null 2>&1
		sleep 15
		psql -X -q -At -d "$db" -c "SELECT pg_terminate_backend($pid)" >/dev/null 2>&1
	done
}

# run_pass PASS SETUP-SQL... -- run the calls of PASS until all have a
# result, recording and skipping over any call that kills its backend.
run_pass() {
	local pass=$1
	shift
	local -a pre=()
	local s
	for s in "$@"; do pre+=(-c "$s"); done
	local restarts=0 rc off pending reason excerpt t0
	t0=$(date +%s)

	while :; do
		off=0
		[[ -n $log ]] && off=$(stat -c %s "$log")
		rm -f "$work/hung"
		watchdog &
		watchdog_pid=$!
		rc=0
		psql -X -q -v ON_ERROR_STOP=1 -d "$db" "${pre[@]}" \
			-c "CALL bad_input.run('$pass')" >"$work/pass.out" 2>"$work/pass.err" || rc=$?
		kill "$watchdog_pid" 2>/dev/null
		wait "$watchdog_pid" 2>/dev/null
		watchdog_pid=
		((rc == 0)) && break

		# The run stopped: the pending call is the culprit.
		if ! wait_for_server; then
			echo "not ok - $pass pass: the server did not come back"
			sed 's/^/#   /' "$work/pass.err"
			failed=$((failed + 1))
			finish
		fi
		pending=$(q "SELECT r.call_id FROM bad_input.results AS r JOIN bad_input.calls AS k USING (call_id)
					  WHERE k.pass = '$pass' AND r.outcome = 'pending'")
		if [[ -z $pending ]]; then
			echo "not ok - $pass pass: the driver stopped outside any call (exit $rc)"
			sed 's/^/#   /' "$work/pass.err"
			failed=$((failed + 1))
			break
		fi
		excerpt=$(new_log_lines "$off" | crash_lines | head -n 20)
		if [[ -f $work/hung && $(cat "$work/hung") == "$pending" ]]; then
			reason=hang		# cancelled by the watchdog
		elif [[ -n $excerpt ]]; then
			reason=crash	# the postmaster saw a backend die
		elif grep -q 'FATAL:' "$work/pass.err"; then
			reason=died		# a FATAL error ended the session
		elif grep -qE 'server closed the connection|terminated abnormally|connection to server was lost' "$work/pass.err"; then
			reason=crash
		else
			reason=died
		fi
		# (psql interpolates variables in a script, not in -c)
		if ! psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v reason="$reason" \
			-v msg="$(head -c 2000 "$work/pass.err")" -v excerpt="$excerpt" \
			-f - >/dev/null 2>"$work/update.err" <<-EOF; then
			UPDATE bad_input.results SET outcome = :'reason', message = :'msg', context = :'excerpt'
			 WHERE call_id = $pending;
			EOF
			echo "not ok - $pass pass: could not record the $reason of call $pending"
			sed 's/^/#   /' "$work/update.err"
			failed=$((failed + 1))
			break
		fi
		echo "!! $pass pass: call $pending: $reason"
		restarts=$((restarts + 1))
		if ((restarts > max_restarts)); then
			echo "!! $pass pass: more than $max_restarts crashes or hangs; the rest is not run"
			break
		fi
	done
	echo "$pass pass: $(($(date +%s) - t0)) s, $restarts restart(s)"
}

echo
echo "== bad input sweep: calls =="
# as the system actor: superuser, no actor
run_pass system "SET client_min_messages = warning"
# as a non-superuser role with an ACCOUNT user as session actor
run_pass account "SET client_min_messages = warning" "SET ROLE $app_role" \
	"SELECT cmp.set_actor($aadm, false)"
# as the same role with a Customer Admin User as session actor
run_pass customer "SET client_min_messages = warning" "SET ROLE $app_role" \
	"SELECT cmp.set_actor($ca_admin, false)"

# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------
docs_sql=$(printf "'%s'," "${documented[@]}")
docs_sql="ARRAY[${docs_sql%,}]"
q "CREATE VIEW bad_input.verdict AS
	SELECT k.*, r.outcome, r.sqlstate, r.message, r.detail, r.hint, r.context, r.message_length,
		   r.schema_name, r.table_name, r.column_name, r.constraint_name,
		   r.result, r.elapsed_ms, r.counts_before, r.counts_after,
		   r.actor_before, r.actor_after, r.user_before, r.user_after,
		   CASE
			 WHEN r.call_id IS NULL THEN 'not run'
			 WHEN r.outcome IN ('crash', 'hang', 'died', 'pending') THEN r.outcome
			 WHEN r.counts_before IS DISTINCT FROM r.counts_after THEN 'rows changed'
			 WHEN r.actor_before IS DISTINCT FROM r.actor_after THEN 'actor changed'
			 WHEN r.user_before IS DISTINCT FROM r.user_after THEN 'current_user changed'
			 WHEN r.outcome = 'ok' THEN 'pass'
			 WHEN r.sqlstate = ANY ($docs_sql) THEN 'pass'
			 ELSE 'undocumented SQLSTATE'
		   END AS verdict
	  FROM bad_input.calls AS k LEFT JOIN bad_input.results AS r USING (call_id)" >/dev/null

echo
echo "== bad input sweep: summary =="
q "SELECT format('%-8s %5s calls: %5s succeeded, %5s refused with a documented SQLSTATE, %s undocumented, %s crashed, %s hung, %s died, %s not run, %s changed rows or the actor',
		pass, count(*), count(*) FILTER (WHERE outcome = 'ok'),
		count(*) FILTER (WHERE outcome = 'error' AND sqlstate = ANY ($docs_sql)),
		count(*) FILTER (WHERE verdict = 'undocumented SQLSTATE'),
		count(*) FILTER (WHERE verdict = 'crash'), count(*) FILTER (WHERE verdict = 'hang'),
		count(*) FILTER (WHERE verdict = 'died'), count(*) FILTER (WHERE verdict = 'not run'),
		count(*) FILTER (WHERE verdict IN ('rows changed', 'actor changed', 'current_user changed')))
	  FROM bad_input.verdict GROUP BY pass ORDER BY min(call_id)"
echo
echo "refusals by SQLSTATE (system / account / customer):"
q "SELECT format('  %s  %5s / %5s / %-5s %s', sqlstate,
		count(*) FILTER (WHERE pass = 'system'), count(*) FILTER (WHERE pass = 'account'),
		count(*) FILTER (WHERE pass = 'customer'),
		CASE WHEN sqlstate = ANY ($docs_sql) THEN '' ELSE '  <-- undocumented' END)
	  FROM bad_input.verdict WHERE outcome = 'error' GROUP BY sqlstate ORDER BY sqlstate"

echo
echo "calls with every argument valid (system / account / customer):"
q "SELECT format('  %-30s %-6s / %-6s / %s', s.fn,
		coalesce(s.sqlstate, s.outcome), coalesce(a.sqlstate, a.outcome), coalesce(c.sqlstate, c.outcome))
	  FROM bad_input.verdict AS s
	  JOIN bad_input.verdict AS a ON a.pass = 'account' AND a.sig = s.sig AND a.label = s.label
	  JOIN bad_input.verdict AS c ON c.pass = 'customer' AND c.sig = s.sig AND c.label = s.label
	 WHERE s.pass = 'system' AND s.argpos = 0 AND s.label IN ('all arguments valid', 'no arguments')
	 ORDER BY s.fn"

echo
echo "slowest calls:"
q "SELECT format('  %8s ms  %s %s(%s = %s)', elapsed_ms, pass, fn, coalesce(arg, '-'), label)
	  FROM bad_input.verdict WHERE elapsed_ms IS NOT NULL ORDER BY elapsed_ms DESC LIMIT 5"

# informational: refusals whose message or detail echo a huge value
big=$(q "SELECT count(*) FROM bad_input.verdict WHERE message_length > 10000")
if ((big > 0)); then
	echo
	echo "note: $big refusals carry more than 10 kB of message/detail/hint (a huge value echoed back), e.g.:"
	q "SELECT format('  %s %s(%s = %s): %s bytes', pass, fn, arg, label, message_length)
		  FROM bad_input.verdict WHERE message_length > 10000 ORDER BY call_id LIMIT 5"
fi

echo
echo "== bad input sweep: checks =="
# gaps of the sweep
while IFS= read -r line; do
	[[ -n $line ]] || continue
	echo "not ok - sweep gap: $line"
	failed=$((failed + 1))
done < <(q "SELECT what FROM bad_input.problem ORDER BY what")

# one check per call: print the failures, count the passes
q "SELECT count(*) FILTER (WHERE verdict = 'pass'), count(*) FILTER (WHERE verdict <> 'pass')
	 FROM bad_input.verdict" >"$work/counts"
read -r call_ok call_bad < <(tr '|' ' ' <"$work/counts")
passed=$((passed + call_ok))
failed=$((failed + call_bad))
psql -X -q -At -d "$db" -c "
	SELECT format(E'not ok - [%s] %s pass: %s(%s = %s)\n#   verdict: %s%s%s%s%s\n#   call: %s',
		call_id, pass, fn, coalesce(arg, '-'), label, verdict,
		coalesce(E'\n#   error: ' || sqlstate || ' ' || replace(message, E'\n', E'\n#     '), ''),
		coalesce(E'\n#   detail: ' || replace(nullif(detail, ''), E'\n', ' '), ''),
		CASE WHEN verdict IN ('rows changed') THEN
			E'\n#   counts before: ' || counts_before::text || E'\n#   counts after:  ' || counts_after::text
			 WHEN verdict IN ('actor changed', 'current_user changed') THEN
			format(E'\n#   actor %s -> %s, current_user %s -> %s', actor_before, actor_after, user_before, user_after)
			 ELSE '' END,
		CASE WHEN outcome IN ('crash', 'hang', 'died') THEN
			coalesce(E'\n#   psql:\n#     ' || replace(nullif(trim(E' \n' FROM message), ''), E'\n', E'\n#     '), '')
			|| coalesce(E'\n#   server log:\n#     ' || replace(nullif(context, ''), E'\n', E'\n#     '), '')
		ELSE '' END,
		left(sql, 400) || CASE WHEN length(sql) > 400 THEN ' ...' ELSE '' END)
	  FROM bad_input.verdict WHERE verdict NOT IN ('pass', 'not run') ORDER BY call_id"
# calls never run (the pass stopped): one line per pass, each call a failure
q "SELECT format('not ok - %s calls of the %s pass not run, from [%s] %s(%s = %s) on', count(*), pass,
		min(call_id), (array_agg(fn ORDER BY call_id))[1], coalesce((array_agg(arg ORDER BY call_id))[1], '-'),
		(array_agg(label ORDER BY call_id))[1])
	  FROM bad_input.verdict WHERE verdict = 'not run' GROUP BY pass ORDER BY min(call_id)"
echo "ok: $call_ok calls answered with success or a documented SQLSTATE, rows and actor unchanged"

# the error fields (SPEC §8): a refusal of a call with one bad argument names
# that argument's column (column_name) or, a refusal of a rule, the rule
# (constraint_name; a rule may span arguments).  Left out: the refusals of a
# combination of arguments that is no rule of the README (one of a pair
# given without the other, the bounds of a range), by message.
# Also left out: the arguments that are stored in no column (a JSON
# document of changes or customers, a flag, an operation's name, a token),
# whose refusals name only the table (README "Errors"); still checked
# below to name schema_name and table_name.
combination="message LIKE '% go together' OR message LIKE 'invalid ICCID range %'
	OR (fn, arg) IN (('update_customer', 'changes'), ('import_customers', 'customers'),
	                 ('import_customers', 'all_or_nothing'), ('actor_can', 'operation'),
	                 ('set_actor_token', 'token'))"
one_arg="outcome = 'error' AND sqlstate IN ('22004', '22023') AND argpos > 0"
read -r fields_checked fields_column fields_rule fields_missing fields_combination < <(q "
	SELECT count(*) FILTER (WHERE NOT ($combination)),
		   count(*) FILTER (WHERE NOT ($combination) AND column_name IS NOT NULL),
		   count(*) FILTER (WHERE NOT ($combination) AND column_name IS NULL AND constraint_name IS NOT NULL),
		   count(*) FILTER (WHERE NOT ($combination) AND column_name IS NULL AND constraint_name IS NULL),
		   count(*) FILTER (WHERE $combination)
	  FROM bad_input.verdict WHERE $one_arg" | tr '|' ' ')
echo "error fields: $fields_checked refusals (22004/22023) of calls with one bad argument checked:" \
	"$fields_column with column_name, $fields_rule with constraint_name only," \
	"$fields_missing with neither; $fields_combination about a combination of arguments left out"
name="every refusal (22004/22023) of a call with one bad argument carries column_name (or, a rule's, constraint_name)"
if [[ $fields_missing == 0 ]]; then
	ok "$name"
else
	mapfile -t offenders < <(q "
		SELECT format('%s(%s): %s of %s refusals (%s), e.g. %s pass, %s = %s: %s %s%s',
			   fn, arg, count(*) FILTER (WHERE column_name IS NULL AND constraint_name IS NULL), count(*),
			   string_agg(DISTINCT sqlstate, '/'), min(pass) FILTER (WHERE call_id = first_bad),
			   arg, min(label) FILTER (WHERE call_id = first_bad), min(sqlstate) FILTER (WHERE call_id = first_bad),
			   left(min(message) FILTER (WHERE call_id = first_bad), 120),
			   coalesce(' [table_name ' || min(table_name) FILTER (WHERE call_id = first_bad) || ']', ''))
		  FROM (SELECT *, min(call_id) FILTER (WHERE column_name IS NULL AND constraint_name IS NULL)
							  OVER (PARTITION BY fn, arg) AS first_bad
				  FROM bad_input.verdict WHERE $one_arg AND NOT ($combination)) AS v
		 WHERE first_bad IS NOT NULL
		 GROUP BY fn, arg ORDER BY min(first_bad)")
	not_ok "$name" "$fields_missing carry neither, from ${#offenders[@]} (function, argument) pairs; the first 25:" \
		"${offenders[@]:0:25}"
fi

name="the refusals of arguments stored in no column name schema_name cmp and a table_name"
missing_table=$(q "SELECT count(*) FROM bad_input.verdict WHERE $one_arg AND ($combination)
	AND (fn, arg) IN (('update_customer', 'changes'), ('import_customers', 'customers'),
	                  ('import_customers', 'all_or_nothing'), ('actor_can', 'operation'),
	                  ('set_actor_token', 'token'))
	AND NOT (message LIKE '% go together' OR message LIKE 'invalid ICCID range %')
	AND (schema_name IS DISTINCT FROM 'cmp' OR table_name IS NULL)")
check_eq "$name" 0 "$missing_table" "$(q "SELECT string_agg(DISTINCT format('%s(%s) = %s: %s %s', fn, arg, label, sqlstate, left(message, 80)), E'\n')
	FROM bad_input.verdict WHERE $one_arg AND ($combination)
	 AND (fn, arg) IN (('update_customer', 'changes'), ('import_customers', 'customers'),
	                   ('import_customers', 'all_or_nothing'), ('actor_can', 'operation'),
	                   ('set_actor_token', 'token'))
	 AND NOT (message LIKE '% go together' OR message LIKE 'invalid ICCID range %')
	 AND (schema_name IS DISTINCT FROM 'cmp' OR table_name IS NULL)")"

# ... and the column named is one of cmp.table_name
read -r named_total named_bad < <(q "
	SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
			SELECT 1 FROM pg_catalog.pg_attribute AS a
			 WHERE a.attrelid = to_regclass(format('%I.%I', coalesce(v.schema_name, 'cmp'), v.table_name))
			   AND a.attname = v.column_name AND a.attnum > 0 AND NOT a.attisdropped))
	  FROM bad_input.verdict AS v WHERE v.outcome = 'error' AND v.column_name IS NOT NULL" | tr '|' ' ')
name="$named_total refusals name a column_name: each a column of schema_name.table_name"
if [[ $named_bad == 0 ]]; then
	ok "$name"
else
	mapfile -t offenders < <(q "
		SELECT format('cmp.%s.%s: %s refusals, e.g. %s(%s = %s): %s', v.table_name, v.column_name, count(*),
			   (array_agg(v.fn ORDER BY v.call_id))[1], (array_agg(v.arg ORDER BY v.call_id))[1],
			   (array_agg(v.label ORDER BY v.call_id))[1], left((array_agg(v.message ORDER BY v.call_id))[1], 120))
		  FROM bad_input.verdict AS v
		 WHERE v.outcome = 'error' AND v.column_name IS NOT NULL
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
							WHERE a.attrelid = to_regclass(format('%I.%I', coalesce(v.schema_name, 'cmp'), v.table_name))
							  AND a.attname = v.column_name AND a.attnum > 0 AND NOT a.attisdropped)
		 GROUP BY v.table_name, v.column_name ORDER BY min(v.call_id) LIMIT 25")
	not_ok "$name" "$named_bad name no such column:" "${offenders[@]}"
fi

# every table holds what it held before the sweep
counts_final=$(q "SELECT bad_input.counts()")
if [[ $counts_final == "$counts_initial" ]]; then
	echo "ok - row counts of every cmp table unchanged by the sweep"
	passed=$((passed + 1))
else
	echo "not ok - row counts of every cmp table unchanged by the sweep"
	echo "#   before: $counts_initial"
	echo "#   after:  $counts_final"
	failed=$((failed + 1))
fi

# the server log: a crash no call accounts for
if [[ -n $log ]]; then
	crashes_logged=$(new_log_lines "$log_start" | grep -cE 'terminated by signal|exited with exit code|PANIC' || true)
	crashes_seen=$(q "SELECT count(*) FROM bad_input.results WHERE outcome IN ('crash', 'died')")
	if ((crashes_logged > crashes_seen)); then
		echo "not ok - server log: $crashes_logged crash line(s), $crashes_seen attributed to a call"
		new_log_lines "$log_start" | crash_lines | head -n 40 | sed 's/^/#   /'
		failed=$((failed + 1))
	else
		echo "ok - server log: no crash beyond the $crashes_seen attributed to calls"
		passed=$((passed + 1))
	fi
fi

finish
