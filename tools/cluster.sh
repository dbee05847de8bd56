# shellcheck shell=bash
# tools/cluster.sh -- throwaway PostgreSQL 15 clusters for tests and the demo.
#
# Source it, do not run it:
#
#   source tools/cluster.sh
#   cluster_start [-c name=value ...]   # extra postgres settings, also $RO_PG_OPTS
#   as_pg psql -X -d postgres -c 'SELECT 1'
#   cluster_stop
#
# cluster_start exports PGHOST (the socket directory), PGPORT, PGUSER=postgres
# and RO_CLUSTER_DIR (the temp directory holding data/, postgres.log and the
# socket).  The server listens on the unix socket only, with trust auth.
#
# Why an unprivileged OS user: initdb and postgres refuse to run as root, so
# when we are root everything server-side runs as the `postgres` OS user (or
# $RO_PG_OSUSER).  When we are not root, we simply run as ourselves.
#
# Why cluster_copy_repo: postgres must read the test inputs (sql/, expected/,
# test/...), and a checkout under e.g. /root is not traversable by it.  Rather
# than chmod'ing anything outside, we copy the tree into the temp dir.

RO_PG_BINDIR=${RO_PG_BINDIR:-/usr/lib/postgresql/15/bin}

if [[ $(id -u) -eq 0 ]]; then
	RO_PG_OSUSER=${RO_PG_OSUSER:-postgres}
else
	RO_PG_OSUSER=${RO_PG_OSUSER:-$(id -un)}
fi

# as_pg CMD ARGS... -- run CMD as the cluster's OS user, keeping the PG*
# variables.  setpriv (util-linux, always present on Debian) keeps the whole
# environment, unlike `su`, which may reset PATH.  HOME is pointed at the
# cluster dir so nothing tries to read root's dotfiles.
as_pg() {
	if [[ $(id -un) == "$RO_PG_OSUSER" ]]; then
		"$@"
		return
	fi
	local home=${RO_CLUSTER_DIR:-/tmp}
	# If the OS user cannot enter the current directory (say /root/repo),
	# several PostgreSQL programs complain or fail; start them from the
	# cluster dir instead.  Callers pass absolute paths anyway.
	if ! setpriv --reuid="$RO_PG_OSUSER" --regid="$RO_PG_OSUSER" --init-groups \
		test -x . -a -r . 2>/dev/null; then
		(cd "$home" && as_pg "$@")
		return
	fi
	setpriv --reuid="$RO_PG_OSUSER" --regid="$RO_PG_OSUSER" --init-groups \
		env HOME="$home" "$@"
}

# cluster_start [postgres options...] -- create, start and wait for a cluster.
cluster_start() {
	local port=${RO_PORT:-55432}
	local dir

	if ! id "$RO_PG_OSUSER" >/dev/null 2>&1; then
		echo "cluster: OS user '$RO_PG_OSUSER' does not exist (install postgresql-15)" >&2
		return 1
	fi

	# /tmp rather than $TMPDIR: the socket path must stay short (108 bytes)
	# and every parent must be traversable by the postgres OS user.
	dir=$(mktemp -d "${RO_TMPDIR:-/tmp}/reseller_onboarding.XXXXXX")
	if [[ $(id -u) -eq 0 ]]; then
		chown "$RO_PG_OSUSER": "$dir"
	fi
	export RO_CLUSTER_DIR=$dir

	if ! as_pg "$RO_PG_BINDIR/initdb" -D "$dir/data" --auth=trust -U postgres \
		--no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
		echo "cluster: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		return 1
	fi

	# Server options.  listen_addresses= (empty) means unix socket only, so
	# parallel runs on the same port never collide: the socket lives in $dir.
	local -a opts=(
		-k "$dir" -p "$port"
		-c listen_addresses=
		-c fsync=off
		-c log_min_messages=warning
		-c log_line_prefix='%m [%p] %q%u@%d '
	)
	# Extra settings: $RO_PG_OPTS (word-split) and then the arguments.
	if [[ -n ${RO_PG_OPTS:-} ]]; then
		# shellcheck disable=SC2206
		opts+=($RO_PG_OPTS)
	fi
	opts+=("$@")

	# pg_ctl passes -o to /bin/sh, hence the shell quoting.  pg_ctl also
	# detaches the postmaster into its own session, so a demo cluster
	# outlives the script that started it.
	if ! as_pg "$RO_PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
		-o "$(printf '%q ' "${opts[@]}")" -w -t 60 start >"$dir/pg_ctl.log" 2>&1; then
		echo "cluster: server did not start; log follows:" >&2
		cat "$dir/pg_ctl.log" "$dir/postgres.log" >&2 2>/dev/null || true
		return 1
	fi

	export PGHOST=$dir PGPORT=$port PGUSER=postgres
	# pg_ctl -w already waited; pg_isready is a cheap second opinion.
	for _ in $(seq 1 30); do
		if "$RO_PG_BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT" -U postgres; then
			return 0
		fi
		sleep 1
	done
	echo "cluster: server started but is not accepting connections" >&2
	return 1
}

# cluster_stop [dir] -- stop the cluster and delete its directory.
# Safe to call twice, and safe to call when cluster_start failed halfway.
cluster_stop() {
	local dir=${1:-${RO_CLUSTER_DIR:-}}
	[[ -n $dir && -d $dir ]] || return 0
	# Never rm -rf something that is not one of ours.
	case $dir in
		*/reseller_onboarding.*) ;;
		*) echo "cluster: refusing to remove unexpected dir '$dir'" >&2; return 1 ;;
	esac
	if [[ -f $dir/data/postmaster.pid ]]; then
		as_pg "$RO_PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop \
			>/dev/null 2>&1 ||
			echo "cluster: pg_ctl stop failed for $dir" >&2
	fi
	rm -rf "$dir"
	if [[ ${RO_CLUSTER_DIR:-} == "$dir" ]]; then
		unset RO_CLUSTER_DIR PGHOST PGPORT
	fi
}

# cluster_copy_repo SRC -- copy the source tree to $RO_CLUSTER_DIR/src, owned
# by the cluster's OS user, and print that path.  .git and build products are
# left behind: the tests need only the inputs.
cluster_copy_repo() {
	local src=$1 dst=$RO_CLUSTER_DIR/src
	mkdir -p "$dst"
	tar -C "$src" \
		--exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./results --exclude=./tmp_check --exclude=./bench/out \
		-cf - . | tar -C "$dst" -xf -
	if [[ $(id -u) -eq 0 ]]; then
		chown -R "$RO_PG_OSUSER": "$dst"
	fi
	printf '%s\n' "$dst"
}
