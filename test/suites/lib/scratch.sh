# shellcheck shell=bash disable=SC2154 # $repo, $db, $role: set by the suite
# test/suites/lib/scratch.sh -- the frame of a scripted suite that works in a
# database of its own: the environment it runs in, a scratch database with
# the extension, a login role and a work directory that go away however the
# suite ends, `npm ci` of a node project into a copy, and the end of the
# suite (the line `N passed, M failed` and the exit status).  Sourced right
# after the suite has found the repository:
#
#   repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
#   # shellcheck source=test/suites/lib/scratch.sh
#   source "$repo/test/suites/lib/scratch.sh"
#   db=ro_name_$$
#   role=ro_name_app_$$
#   scratch_workdir ro_name
#   scratch_db_and_role
#   ... ok / not_ok / check_eq ...
#   finish
#
# Sourcing it sets the environment below, sources report.sh (ok, not_ok,
# check_eq), zeroes $passed and $failed, and sets the traps: scratch_cleanup
# on EXIT, and INT and TERM exit (130, 143) through it.  A suite that sets
# $started (date +%s) gets a `# runtime: N s` line before its summary.

set -uo pipefail
export LC_ALL=C
export PGUSER=${PGUSER:-postgres}
: "${PGHOST:?PGHOST must point at the test cluster}"
: "${PGPORT:?PGPORT must be set}"

# shellcheck source=test/suites/lib/report.sh
source "$repo/test/suites/lib/report.sh"

passed=0
failed=0
work=""        # scratch_workdir
db_created=0   # scratch_db_and_role: what scratch_cleanup drops
role_created=0

# scratch_cleanup -- kill the background jobs still running (and wait for
# them), stop pgbouncer (pgbouncer.sh, when sourced), then drop the database
# and the role this run created and remove the work directory; RO_KEEP=1
# keeps those three for a look.
# shellcheck disable=SC2317 # called by the EXIT trap
scratch_cleanup() {
	local pids
	pids=$(jobs -pr)
	# shellcheck disable=SC2086 # one process id a word
	if [[ -n $pids ]]; then
		kill $pids 2>/dev/null
		wait $pids 2>/dev/null
	fi
	if declare -F pgbouncer_stop >/dev/null; then
		pgbouncer_stop
	fi
	if [[ -n ${RO_KEEP:-} ]]; then
		echo "# RO_KEEP: database ${db:-}, role ${role:-} and $work kept" >&2
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
trap scratch_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# finish -- the end of the suite: the line `N passed, M failed` (the last
# line, which tools/test.sh counts), exit status 1 when anything failed.
finish() {
	[[ -n ${started:-} ]] && echo "# runtime: $(($(date +%s) - started)) s"
	echo "$passed passed, $failed failed"
	((failed == 0)) || exit 1
	exit 0
}

# fail NAME [LOG] -- a step that the rest depends on failed: `not ok - NAME`
# with the last 20 lines of LOG, and finish.
fail() {
	not_ok "$1" "$(tail -n 20 "${2:-/dev/null}" 2>/dev/null)"
	finish
}

# scratch_workdir PREFIX -- $work, a new directory /tmp/PREFIX.XXXXXX (a
# short path, for sockets) that the postgres OS user may read.
scratch_workdir() {
	work=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 755 "$work"
}

# scratch_db_and_role -- the database $db with the extension, and the login
# role $role with no privileges yet; a role of that name must not exist
# already.  When either cannot be made: a `not ok` and finish.
scratch_db_and_role() {
	if psql -X -q -At -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'" 2>/dev/null | grep -q 1; then
		not_ok "role $role does not exist yet (left over by another run?)"
		finish
	fi
	if createdb "$db" 2>"$work/err" && db_created=1 &&
		psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION reseller_onboarding' 2>>"$work/err" >/dev/null &&
		psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $role LOGIN" 2>>"$work/err" >/dev/null; then
		role_created=1
	else
		not_ok "database $db with the extension, login role $role" "$(cat "$work/err")"
		finish
	fi
}

# q SQL -- the rows of SQL in our database, as superuser, directly:
# unaligned, fields separated by a space; its errors in $work/err.
q() {
	psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -d "$db" -c "$1" 2>"$work/err"
}

# check_no_rows NAME SQL -- SQL returns the offending rows, as text; none is
# ok, else `not ok - NAME (N offending)` with the first 5 (or the error).
check_no_rows() {
	local name=$1 sql=$2 rows n
	if ! rows=$(q "$sql"); then
		not_ok "$name" "$(cat "$work/err")"
		return
	fi
	n=$(grep -c . <<<"$rows")
	if ((n == 0)); then
		ok "$name"
	else
		not_ok "$name ($n offending)" "$(head -n 5 <<<"$rows")"
	fi
}

# require_node_npm -- node and npm are installed, else a `not ok` and finish.
require_node_npm() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		fail "node and npm are installed (tools/setup.sh installs them)"
	fi
}

# require_example_modules -- node, and node-postgres as examples/node's
# package-lock.json pins it; the path of its node_modules is set in
# $modules (for NODE_PATH): examples/node/node_modules when the example has
# been installed, else a copy installed by npm ci in $work/node (call
# scratch_workdir first).  When node or npm is missing: a `not ok` and finish.
require_example_modules() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		fail "node and npm are installed (tools/setup.sh installs them)"
	fi
	modules=$repo/examples/node/node_modules
	if [[ ! -f $modules/pg/package.json ]]; then
		scratch_npm_ci "$repo/examples/node" "$work/node"
		modules=$work/node/node_modules
	fi
}

# scratch_npm_ci SRC DIR -- a copy of the node project in the directory SRC
# of the repository, without its node_modules, in DIR, with the versions of
# its package-lock.json installed by `npm ci` (from the npm cache when it is
# warm; up to 180 s); the checkout stays clean.  When npm fails: a `not ok`
# with the end of $work/npm.log, and finish.
scratch_npm_ci() {
	local src=$1 dir=$2
	if ! {
		mkdir -p "$dir" &&
			find "$src" -mindepth 1 -maxdepth 1 ! -name node_modules -exec cp -r {} "$dir/" \; &&
			(cd "$dir" && timeout 180 npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
	} >"$work/npm.log" 2>&1; then
		fail "npm ci of ${src#"$repo"/} (package-lock.json)" "$work/npm.log"
	fi
}
