# shellcheck shell=bash disable=SC2154 # $repo, $db, $role: set by the suite
# test/suites/lib/pgbouncer.sh -- pgbouncer in transaction mode in front of a
# suite's scratch database, for suites that source scratch.sh (first):
#
#   # shellcheck source=test/suites/lib/pgbouncer.sh
#   source "$repo/test/suites/lib/pgbouncer.sh"
#   pgbouncer_require                          # before anything is made
#   ... scratch_workdir, scratch_db_and_role, grants to $role ...
#   pgbouncer_start ALIAS POOL_SIZE [SETTING...]
#   ... clients: PGHOST=$work PGPORT=6432 PGDATABASE=ALIAS PGUSER=$role ...
#
# It listens on a unix socket in the work directory only, lets $role in
# without a password (auth_type trust), and scratch_cleanup stops it however
# the suite ends.  It runs as the cluster's OS user (as_pg, RO_PG_OSUSER of
# tools/cluster.sh, sourced here): pgbouncer refuses to run as root.

# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"

pgbouncer_bin=${RO_PGBOUNCER:-/usr/sbin/pgbouncer}

# pgbouncer_require -- the server is on this machine (PGHOST a unix socket
# directory or a loopback address: pgbouncer trusts its clients) and
# pgbouncer is installed; else a `not ok` and finish.
pgbouncer_require() {
	case $PGHOST in
		/*) ;;
		localhost | 127.0.0.1 | ::1) ;;
		*)
			not_ok "PGHOST is a unix socket directory or a loopback address" "PGHOST=$PGHOST"
			finish
			;;
	esac
	if [[ ! -x $pgbouncer_bin ]]; then
		fail "pgbouncer is installed ($pgbouncer_bin; tools/setup.sh installs it)"
	fi
}

# pgbouncer_start ALIAS POOL_SIZE [SETTING...] -- start pgbouncer with the
# database ALIAS = $db as $role, pool_mode = transaction, POOL_SIZE server
# connections, DISCARD ALL between clients, and each SETTING (a line
# `name = value` of its [pgbouncer] section) besides; wait until its socket
# $work/.s.PGSQL.6432 is there.  When it does not start: a `not ok` with the
# end of its logs, and finish.
pgbouncer_start() {
	local alias=$1 pool_size=$2
	shift 2
	printf '"%s" ""\n' "$role" >"$work/userlist.txt"
	{
		cat <<EOF
[databases]
$alias = host=$PGHOST port=$PGPORT dbname=$db user=$role pool_size=$pool_size
[pgbouncer]
listen_addr =
listen_port = 6432
unix_socket_dir = $work
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
server_reset_query = DISCARD ALL
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
EOF
		printf '%s\n' "$@"
	} >"$work/pgbouncer.ini"
	[[ $(id -u) -eq 0 ]] && chown -R "$RO_PG_OSUSER": "$work"
	if as_pg "$pgbouncer_bin" -d -q "$work/pgbouncer.ini" >"$work/start.log" 2>&1; then
		for _ in $(seq 1 100); do
			[[ -S $work/.s.PGSQL.6432 ]] && return 0
			sleep 0.1
		done
	fi
	not_ok "pgbouncer started" "$(cat "$work/start.log" "$work/pgbouncer.log" 2>/dev/null | tail -n 20)"
	finish
}

# pgbouncer_stop -- stop the work directory's pgbouncer if it runs: SIGTERM,
# and SIGKILL when it has not gone within 5 s.  Called by scratch_cleanup.
pgbouncer_stop() {
	local pid
	[[ -n $work && -f $work/pgbouncer.pid ]] || return 0
	pid=$(cat "$work/pgbouncer.pid" 2>/dev/null)
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$work/pgbouncer.pid"
}
