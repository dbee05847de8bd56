#!/usr/bin/env bash
# tools/demo.sh -- THE demo command: build and install the extension, start a
# throwaway cluster that keeps running, and play demo/tour.sql in it.
#
#   bash tools/demo.sh         # (re)start the demo and run the tour
#   bash tools/demo.sh stop    # stop the demo cluster and delete it
#
# Environment: RO_DEMO_PORT (default 55433).  Where the running demo lives is
# recorded in $RO_DEMO_STATE (default /tmp/reseller_onboarding_demo.env).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"

state=${RO_DEMO_STATE:-/tmp/reseller_onboarding_demo.env}

# demo_stop -- stop the demo recorded in the state file, if any.
demo_stop() {
	[[ -f $state ]] || return 0
	local RO_DEMO_DIR='' RO_DEMO_PORT_USED=''
	# shellcheck disable=SC1090
	source "$state"
	if [[ -n $RO_DEMO_DIR ]]; then
		echo "stopping demo cluster in $RO_DEMO_DIR (port $RO_DEMO_PORT_USED)"
		cluster_stop "$RO_DEMO_DIR"
	fi
	rm -f "$state"
}

case ${1:-start} in
	stop)
		if [[ ! -f $state ]]; then
			echo "no demo is running (no $state)"
			exit 0
		fi
		demo_stop
		exit 0
		;;
	start) ;;
	*)
		echo "usage: bash tools/demo.sh [stop]" >&2
		exit 2
		;;
esac

# Check before building anything, so a missing tour fails fast and clearly.
if [[ ! -f $repo/demo/tour.sql ]]; then
	echo "demo: $repo/demo/tour.sql is missing; nothing to show" >&2
	exit 1
fi

bash "$repo/tools/setup.sh"

# One demo at a time: a previous one would hold the port.
demo_stop

export RO_PORT=${RO_DEMO_PORT:-55433}
# Until the tour has run, a failure must not leave a half-made cluster.
trap 'cluster_stop' EXIT
# shellcheck disable=SC2119 # no extra server settings for the demo
cluster_start

printf 'RO_DEMO_DIR=%q\nRO_DEMO_PORT_USED=%q\n' "$RO_CLUSTER_DIR" "$PGPORT" >"$state"

src=$(cluster_copy_repo "$repo")
cd "$src" # so the tour may \i files relative to the repo root

as_pg "$RO_PG_BINDIR/createdb" cmp_demo
as_pg "$RO_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d cmp_demo \
	-c 'CREATE EXTENSION reseller_onboarding'

echo "== demo/tour.sql =="
if ! as_pg "$RO_PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 -d cmp_demo -f demo/tour.sql; then
	echo "demo: the tour failed; stopping the demo cluster" >&2
	rm -f "$state"
	exit 1
fi

# The tour ran: from here on the cluster is meant to outlive us.
trap - EXIT

cat <<EOF

The demo cluster is running in $RO_CLUSTER_DIR (port $PGPORT, trust auth).
Connect (as root, -U postgres is enough; or as the postgres OS user):
    psql -h $RO_CLUSTER_DIR -p $PGPORT -U postgres cmp_demo
    su postgres -c 'psql -h $RO_CLUSTER_DIR -p $PGPORT cmp_demo'
Stop and delete it:
    bash tools/demo.sh stop
EOF
