#!/usr/bin/env bash
# tools/sanitize.sh -- every test suite, with the extension built under
# AddressSanitizer + UndefinedBehaviorSanitizer (SPEC §10: "The regression
# suite also runs clean under AddressSanitizer or valgrind").
#
#   bash tools/sanitize.sh                 # stop each backend at its first report
#   RO_SAN_RECOVER=1 bash tools/sanitize.sh  # report and go on: every bug in one run
#
# What it does:
#   1. runs tools/test.sh unchanged, with two things in its environment:
#        COPT=-fsanitize=address,undefined ...  make takes it from the
#            environment, so the `make clean all install` of tools/setup.sh
#            builds and installs an instrumented reseller_onboarding.so
#            (PGXS adds COPT to CFLAGS and LDFLAGS);
#        RO_PG_BINDIR=<temp dir>  the PostgreSQL bindir as symlinks, except
#            `postgres`, a script that starts the real postgres with libasan
#            first in LD_PRELOAD (an instrumented library can only be loaded
#            into a process that starts with the ASan runtime), and `pg_ctl`,
#            which passes `-p` so that tools/cluster.sh's cluster runs that
#            script.  initdb runs the plain postgres; it never loads us.
#      So all of tools/test.sh runs (pg_regress, pgTAP, isolation,
#      test/suites/*.sh) against one cluster whose backends are checked.
#   2. collects the reports: ASan's from the asan.<pid> files each backend
#      writes, UBSan's from the server log (gcc's libubsan cannot be given a
#      file of its own next to libasan; see the preload library below), which
#      the wrapper tees to a file that outlives the cluster.  By default a
#      report aborts the backend (-fno-sanitize-recover=all, abort_on_error,
#      halt_on_error), so the test that ran fails too -- and,
#      as the postmaster then restarts, often the next few tests as well:
#      fix the first report, then look again.  RO_SAN_RECOVER=1 builds with
#      -fsanitize-recover=all instead: backends report and carry on (ASan
#      reports each place once per backend), tests are undisturbed, and one
#      run lists every bug the suites reach.
#   3. rebuilds and reinstalls the normal library with tools/setup.sh, also
#      when interrupted (EXIT trap); test.sh's tmp_check/ is kept across it.
#
# Reading the output: test.sh's output, indented; "== sanitizer reports ==":
# one line per distinct place (`count  SUMMARY: AddressSanitizer:
# heap-buffer-overflow src/foo.c:123 in Func`), then the full first report
# for each place -- the top frames in src/*.c are where to look, "allocated
# by" says whose memory it was; then "== restoring the normal build ==";
# last, `N passed, M failed`: test.sh's totals, with every sanitizer report
# added to M.  Exit status is non-zero when anything failed.  Report files
# are copied to tmp_check/sanitizer/ when there are any.
#
# Runtime: tools/test.sh plus 15-20 % (a second build, slower backends):
# measured on 2 busy cores, 4 min 55 s against 4 min 14 s for tools/test.sh,
# over half of it test/suites/bad_input.sh.  Reports cost time: a recover
# run with 34 of them took 8 min.
#
# Environment: RO_PORT and RO_PG_OPTS as for tools/test.sh; RO_SAN_RECOVER;
# RO_SAN_FLAGS replaces the compiler flags altogether.  One run per machine
# at a time, and no tools/test.sh alongside: the library is installed into
# PostgreSQL's pkglibdir, which is shared.
#
# What it cannot see: palloc() carves small chunks out of big malloc'd blocks,
# and Debian's postgres is built without memory-context checking, so writing
# a few bytes past a small palloc'd chunk lands in its neighbour and is NOT
# reported (tried: palloc(5), write [5] -- silent).  Reported are overruns of
# stack and global variables in our code, of malloc'd memory and of palloc'd
# chunks big enough to get a block of their own (over 8 kB in the default
# contexts; tried: palloc(16384), write [16384] -- caught), use of such
# blocks after free, and undefined behaviour in our code (bad shifts, null or
# misaligned pointers, out-of-bounds array indexes, ...; tried: 1 << 40 --
# caught).  Signed overflow is not undefined here: PostgreSQL compiles with
# -fwrapv.
set -euo pipefail
shopt -s nullglob

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh" # RO_PG_BINDIR, RO_PG_OSUSER
pgbin=$RO_PG_BINDIR

if [[ ${RO_SAN_RECOVER:-0} == 1 ]]; then
	recover=-fsanitize-recover=all halt=0
else
	recover=-fno-sanitize-recover=all halt=1
fi
san_flags=${RO_SAN_FLAGS:--fsanitize=address,undefined $recover -fno-omit-frame-pointer}
libasan=$(gcc -print-file-name=libasan.so)

indent() { sed 's/^/    /'; }

if [[ ! -e $libasan ]]; then
	echo "sanitize: gcc has no libasan.so ($libasan); install gcc" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# Traversable by the postgres OS user: the wrapper scripts, the preload
# library and the report directory live here.
work=$(mktemp -d /tmp/ro_sanitize.XXXXXX)
chmod 755 "$work"
logs=$work/logs
mkdir -p "$logs" "$work/bin"
if [[ $(id -u) -eq 0 ]]; then
	chown "$RO_PG_OSUSER": "$logs"
fi

# restore_normal_build -- tools/setup.sh without our environment.  Its
# `make clean` deletes tmp_check/, where test.sh saved the outputs of failed
# tests and we put the reports; keep that aside meanwhile.
restored=0
restore_normal_build() {
	local ok=1
	((restored)) && return 0
	restored=1
	echo
	echo "== restoring the normal build =="
	rm -rf "$work/tmp_check"
	if [[ -d $repo/tmp_check ]]; then
		mv "$repo/tmp_check" "$work/tmp_check"
	fi
	if env -u COPT -u RO_PG_BINDIR bash "$repo/tools/setup.sh" 2>&1 | indent; then
		echo "normal reseller_onboarding.so built and installed"
	else
		echo "!! could not rebuild the normal library: run 'bash tools/setup.sh'"
		ok=0
	fi
	if [[ -d $work/tmp_check ]]; then
		rm -rf "$repo/tmp_check"
		mv "$work/tmp_check" "$repo/tmp_check"
	fi
	((ok))
}
# stop_strays -- kill, by pid, any postgres started through our wrapper that
# still runs after tools/test.sh stopped its cluster: one that hung before
# writing postmaster.pid (as all did before the preload library below) is
# beyond pg_ctl.  The wrapper leaves started.<pid>; the environment check
# makes sure the pid is still that process.  Prints how many it killed.
stop_strays() {
	local m pid n=0
	for m in "$logs"/started.*; do
		pid=${m##*.}
		if tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" |
			grep -qF "$work/preload.so"; then
			kill -KILL "$pid" 2>/dev/null || true
			n=$((n + 1))
		fi
	done
	echo "$n"
}
# shellcheck disable=SC2317 # called by the EXIT trap
on_exit() {
	local rc=$?
	stop_strays >/dev/null
	restore_normal_build || rc=1
	rm -rf "$work"
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- a bindir whose postgres runs under ASan -------------------------------
for f in "$pgbin"/*; do
	ln -s "$f" "$work/bin/$(basename "$f")"
done
rm -f "$work/bin/postgres" "$work/bin/pg_ctl"

# A small library preloaded after libasan, for two quirks of gcc's runtimes
# under postgres:
#
# swift_demangle: postgres links libgpg-error (libsystemd -> libgcrypt), whose
# constructor runs before libasan's and calls bindtextdomain(), which mallocs
# while it holds glibc's gettext lock.  That malloc initialises ASan, whose
# dlsym("swift_demangle") fails; the dlerror() after it has the message
# translated, taking the same lock, and leaves the lock corrupt: postgres
# then hangs in its own bindtextdomain() (even `postgres --version`).  With
# the symbol defined, the dlsym succeeds and nothing is translated.
#
# __ubsan_default_options: libubsan comes in with our library, so it starts
# in a backend, whose /proc/self/environ (where the runtimes read
# UBSAN_OPTIONS) postgres has overwritten with its ps title; options
# compiled in here are found anyway.  handle_*=0 leaves those signals to ASan
# and postgres.  Its log_path ends up setting ASan's (gcc's libubsan calls
# libasan's __sanitizer_set_report_path), hence the same path; UBSan's own
# reports go to the server's stderr, which the wrapper below copies.
ubsan_options="print_stacktrace=1:halt_on_error=$halt:abort_on_error=1:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:log_path=$logs/asan"
cat >"$work/preload.c" <<EOF
#include <stddef.h>
#include <stdint.h>

char	   *swift_demangle(const char *name, size_t len, char *buf,
						   size_t *buflen, uint32_t flags);
const char *__ubsan_default_options(void);

/* "Not a Swift name": ASan then demangles as usual. */
char *
swift_demangle(const char *name, size_t len, char *buf, size_t *buflen,
			   uint32_t flags)
{
	return NULL;
}

const char *
__ubsan_default_options(void)
{
	return "$ubsan_options";
}
EOF
gcc -shared -fPIC -O2 -o "$work/preload.so" "$work/preload.c"

# The server's stderr (postgres.log) goes through tee into $logs/server.log,
# which outlives the cluster directory.  The postmaster keeps its pid (exec),
# as pg_ctl -w expects.  detect_leaks=0: memory contexts are freed wholesale
# or at exit, which LeakSanitizer would take for leaks.
# detect_stack_use_after_return=0: fake stacks would confuse postgres's stack
# depth check.  The started.<pid> marker proves afterwards that the server
# really went through this script.
cat >"$work/bin/postgres" <<EOF
#!/bin/bash
echo "\$*" >"$logs/started.\$\$"
export LD_PRELOAD="$libasan $work/preload.so\${LD_PRELOAD:+ \$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=$halt:detect_stack_use_after_return=0:log_path=$logs/asan"
exec "$pgbin/postgres" "\$@" 2> >(exec env -u LD_PRELOAD tee -a "$logs/server.log" >&2)
EOF
cat >"$work/bin/pg_ctl" <<EOF
#!/bin/sh
exec "$pgbin/pg_ctl" -p "$work/bin/postgres" "\$@"
EOF
chmod 755 "$work/bin/postgres" "$work/bin/pg_ctl"

# ---- the suites ------------------------------------------------------------
echo "== tools/test.sh with COPT=$san_flags =="
start=$SECONDS
rc=0
COPT=$san_flags RO_PG_BINDIR=$work/bin bash "$repo/tools/test.sh" \
	>"$work/test.out" 2>&1 || rc=$?
indent <"$work/test.out"
echo "tools/test.sh took $((SECONDS - start)) s (exit $rc)"

strays=$(stop_strays)
if ((strays > 0)); then
	echo "!! $strays postgres process(es) of this run outlived the cluster; killed"
fi

passed=0 failed=$strays
last=$(grep -v '^[[:space:]]*$' "$work/test.out" | tail -n1 || true)
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed[[:space:]]*$ ]]; then
	passed=${BASH_REMATCH[1]}
	failed=$((failed + BASH_REMATCH[2]))
else
	echo "!! tools/test.sh (exit $rc) did not end with 'N passed, M failed'"
	failed=$((failed + 1))
fi

# ---- was it really instrumented? -------------------------------------------
# (Checked while the instrumented library is still installed.)
lib=$("$pgbin/pg_config" --pkglibdir)/reseller_onboarding.so
if ! readelf -d "$lib" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
	echo "!! $lib is not linked with libasan: the sanitized build did not happen"
	failed=$((failed + 1))
fi
if ! compgen -G "$logs/started.*" >/dev/null; then
	echo "!! no postgres was started through the ASan wrapper"
	failed=$((failed + 1))
fi

# ---- the reports -----------------------------------------------------------
echo
echo "== sanitizer reports =="
# Sanitizer output that went to the server's stderr (UBSan's, always) is cut
# out of the server log into one file per report: from a line that mentions a
# sanitizer or says "runtime error" up to the next postgres log line (those
# start with the timestamp of log_line_prefix).
if [[ -f $logs/server.log ]]; then
	awk -v dir="$logs" '
		/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { out = ""; next }
		/: runtime error: |Sanitizer/ && (out == "" || /: runtime error: |==ERROR: /) {
			out = sprintf("%s/server-report.%04d", dir, ++n)
		}
		out != "" { print > out }
	' "$logs/server.log"
fi
files=("$logs"/asan.* "$logs"/ubsan.* "$logs"/server-report.*)
# What one report is (its first line), and what names its place.
report_re='ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)|: runtime error: '
place_re='^SUMMARY: |: runtime error: '
reports=0
if ((${#files[@]})); then
	reports=$(cat "${files[@]}" | grep -cE "$report_re" || true)
	echo "$reports report(s); by place (one backend reports a place once):"
	cat "${files[@]}" | grep -E "$place_re" | sort | uniq -c | sort -rn | indent || true
	# The full text once per place: the first file that names it.
	declare -A shown=()
	for f in "${files[@]}"; do
		new=0
		while IFS= read -r s; do
			if [[ -z ${shown[$s]:-} ]]; then
				shown[$s]=1
				new=1
			fi
		done < <(grep -E "$place_re" "$f" || true)
		# Output naming no place (a runtime warning, say) is shown as well.
		if ((new)) || ! grep -qE "$place_re" "$f"; then
			echo "--- $(basename "$f") ---"
			cat "$f"
		fi
	done
	mkdir -p "$repo/tmp_check/sanitizer"
	cp "${files[@]}" "$repo/tmp_check/sanitizer/"
	cp "$logs/server.log" "$repo/tmp_check/sanitizer/" 2>/dev/null || true
	echo "report files and the server log copied to $repo/tmp_check/sanitizer/"
else
	echo "none"
fi
# Backends that died are failed tests already; name them, to tie them to
# reports (or to show that one died without any).
deaths=$(grep -E 'server process \(PID [0-9]+\) (was terminated by signal|exited with exit code [^0])' \
	"$logs/server.log" 2>/dev/null || true)
if [[ -n $deaths ]]; then
	echo "backends that died, from the server log:"
	indent <<<"$deaths"
fi
failed=$((failed + reports))

if ! restore_normal_build; then
	failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
if ((failed > 0 || rc != 0 || passed == 0)); then
	exit 1
fi
exit 0
