#!/usr/bin/env bash
# tools/sanitize.sh -- the test suites with the extension built under
# AddressSanitizer + UndefinedBehaviorSanitizer (SPEC §10: "The regression
# suite also runs clean under AddressSanitizer or valgrind").
#
#   bash tools/sanitize.sh
#
# What it does:
#   1. runs tools/test.sh unchanged, with two things in its environment:
#        COPT=-fsanitize=address,undefined ...  make reads it from the
#            environment, so the `make clean all install` in tools/setup.sh
#            builds and installs an instrumented reseller_onboarding.so
#            (PGXS adds COPT to both CFLAGS and LDFLAGS);
#        RO_PG_BINDIR=<temp dir>  a copy of the PostgreSQL bindir made of
#            symlinks, except for `postgres`, a script that starts the real
#            postgres with libasan in LD_PRELOAD (an instrumented library
#            can only be loaded into a process whose first library is the
#            ASan runtime), and `pg_ctl`, which passes `-p` so the cluster
#            that tools/cluster.sh starts uses that script.  initdb still runs
#            the plain postgres (the extension is not loaded there).
#      So every suite of tools/test.sh runs: pg_regress, pgTAP, isolation
#      and test/suites/*.sh, against one cluster whose backends are checked.
#   2. collects the sanitizer reports: each backend that hits an error
#      writes asan.<pid> / ubsan.<pid> and aborts (abort_on_error,
#      halt_on_error, -fno-sanitize-recover=all), which also makes the test
#      that was running fail.
#   3. always (EXIT trap) rebuilds and reinstalls the normal library with
#      tools/setup.sh, so the machine is never left with the instrumented one.
#
# Output: test.sh's own output, indented; then "== sanitizer reports ==" with
# every report in full (the first frames that name src/*.c are the place to
# look); then, as the last line, `N passed, M failed`, where N and M are
# test.sh's totals and every sanitizer report is added to M.  Exit status is
# non-zero when anything failed.  When there are reports they are also copied
# to tmp_check/sanitizer/ (next to what test.sh saves there on failure).
#
# Runtime: a little more than tools/test.sh (two builds instead of one, and
# the instrumented backends are somewhat slower); see the report of the run.
#
# Environment: RO_PORT and RO_PG_OPTS as for tools/test.sh;
# RO_SAN_FLAGS overrides the sanitizer compiler flags.
#
# What it cannot see: palloc() carves small chunks out of large malloc'd
# blocks and the Debian postgres is not built with memory-context poisoning,
# so writing a few bytes past a small palloc'd chunk lands in the next chunk
# and is NOT reported.  Reported are: overflows of stack and global
# variables in our code, overruns of malloc'd memory and of palloc'd chunks
# big enough to get their own block (over 8kB in the default contexts, less
# in small ones), use after free of such blocks, and undefined behaviour in
# our code (misaligned or null pointers, bad shifts, out-of-bounds array
# indexes, unreachable code reached, ...).  Signed overflow is not undefined
# here: PostgreSQL compiles with -fwrapv.
#
# Only one run at a time per machine: the library is installed system-wide.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh" # for RO_PG_BINDIR and RO_PG_OSUSER
pgbin=$RO_PG_BINDIR

san_flags=${RO_SAN_FLAGS:--fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer}
libasan=$(gcc -print-file-name=libasan.so)

indent() { sed 's/^/    /'; }

if [[ ! -e $libasan ]]; then
	echo "sanitize: gcc has no libasan.so ($libasan); install libasan8 / gcc" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# Must be traversable by the postgres OS user: the wrapper scripts and the
# report directory live here.
work=$(mktemp -d /tmp/ro_sanitize.XXXXXX)
chmod 755 "$work"
logs=$work/logs
mkdir -p "$logs" "$work/bin"
if [[ $(id -u) -eq 0 ]]; then
	chown "$RO_PG_OSUSER": "$logs"
fi

restore_normal_build() {
	local rc=$?
	trap - EXIT
	echo
	echo "== restoring the normal build =="
	if env -u COPT -u RO_PG_BINDIR bash "$repo/tools/setup.sh" 2>&1 | indent; then
		echo "normal reseller_onboarding.so built and installed"
	else
		echo "!! could not rebuild the normal library: run 'bash tools/setup.sh'" >&2
		rc=1
	fi
	rm -rf "$work"
	exit "$rc"
}
trap restore_normal_build EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the bindir whose postgres runs under ASan ------------------------------
for f in "$pgbin"/*; do
	ln -s "$f" "$work/bin/$(basename "$f")"
done
rm -f "$work/bin/postgres" "$work/bin/pg_ctl"

# detect_leaks=0: memory contexts are freed wholesale at exit or never, which
# LeakSanitizer would report as leaks.  detect_stack_use_after_return=0: the
# fake stacks would confuse postgres's stack depth check.  The started.<pid>
# marker proves afterwards that the server really went through here.
cat >"$work/bin/postgres" <<EOF
#!/bin/sh
echo "\$*" >"$logs/started.\$\$"
export LD_PRELOAD="$libasan\${LD_PRELOAD:+ \$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
exec "$pgbin/postgres" "\$@"
EOF
cat >"$work/bin/pg_ctl" <<EOF
#!/bin/sh
exec "$pgbin/pg_ctl" -p "$work/bin/postgres" "\$@"
EOF
chmod 755 "$work/bin/postgres" "$work/bin/pg_ctl"

# ---- the suites --------------------------------------------------------------
echo "== tools/test.sh with $san_flags =="
start=$SECONDS
rc=0
COPT=$san_flags RO_PG_BINDIR=$work/bin bash "$repo/tools/test.sh" \
	>"$work/test.out" 2>&1 || rc=$?
indent <"$work/test.out"
echo "tools/test.sh took $((SECONDS - start))s (exit $rc)"

passed=0 failed=0
last=$(grep -v '^[[:space:]]*$' "$work/test.out" | tail -n1 || true)
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed[[:space:]]*$ ]]; then
	passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
else
	echo "!! tools/test.sh (exit $rc) did not end with 'N passed, M failed'"
	failed=1
fi

# ---- was it really instrumented? --------------------------------------------
lib=$("$pgbin/pg_config" --pkglibdir)/reseller_onboarding.so
if ! readelf -d "$lib" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
	echo "!! $lib is not linked with libasan: the sanitized build did not happen"
	failed=$((failed + 1))
fi
if ! compgen -G "$logs/started.*" >/dev/null; then
	echo "!! no postgres was started through the ASan wrapper"
	failed=$((failed + 1))
fi

# ---- the reports --------------------------------------------------------------
echo
echo "== sanitizer reports =="
reports=0
shopt -s nullglob
for f in "$logs"/asan.* "$logs"/ubsan.*; do
	n=$(grep -cE 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)|: runtime error: ' "$f" || true)
	# A log without an error line is a runtime warning; show it, do not count it.
	((n > 0)) || n=0
	echo "--- $(basename "$f") ($n report(s)) ---"
	cat "$f"
	reports=$((reports + n))
done
if ((reports > 0)); then
	mkdir -p "$repo/tmp_check/sanitizer"
	cp "$logs"/asan.* "$logs"/ubsan.* "$repo/tmp_check/sanitizer/" 2>/dev/null || true
	echo "$reports sanitizer report(s); copies in $repo/tmp_check/sanitizer/"
else
	echo "no sanitizer reports"
fi
failed=$((failed + reports))

echo
echo "$passed passed, $failed failed"
if ((failed > 0 || rc != 0 || passed == 0)); then
	exit 1
fi
exit 0
