#!/usr/bin/env bash
# test/suites/debian_package.sh -- the Debian package (README, "Installing
# from the Debian package"):
#
#   1. `dpkg-buildpackage -us -uc -b` in a copy of the checkout builds
#      postgresql-15-reseller-onboarding_<version>_amd64.deb, <version> being
#      the control file's default_version (and debian/changelog's); its own
#      test step (dh_pgxs_test) runs `make installcheck` against the
#      package's files on a throwaway cluster.
#   2. `dpkg -i` installs it (the files `make install` put there are kept
#      aside and put back at the end); dpkg lists the library, the control
#      file and every install and upgrade script of sql/.
#   3. On a throwaway cluster started from the system tree, which now holds
#      the package's files: `make installcheck` (pg_regress suites and
#      isolation specs) and `make prove-installcheck` (every pgTAP file),
#      with cmp.version() the package's version.
#   4. `dpkg -r` removes every file it installed.
#
# Needs root (dpkg).  Prints `ok - ...` / `not ok - ...` and ends with
# `N passed, M failed`.
set -uo pipefail
export LC_ALL=C

repo=${RO_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tools/cluster.sh
source "$repo/tools/cluster.sh"
pkg=postgresql-15-reseller-onboarding
version=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$repo/reseller_onboarding.control")
libdir=/usr/lib/postgresql/15/lib
extdir=/usr/share/postgresql/15/extension

passed=0 failed=0
check() {
	if [[ $1 == 0 ]]; then echo "ok - $2"; passed=$((passed + 1)); else echo "not ok - $2"; failed=$((failed + 1)); fi
}
finish() { echo "$passed passed, $failed failed"; exit 0; }
show() { sed 's/^/#   /' "$1" | tail -"${2:-25}"; }

if [[ $(id -u) -ne 0 ]]; then
	echo "not ok - the package test installs with dpkg and needs root"
	echo "0 passed, 1 failed"
	exit 0
fi

work=$(mktemp -d /tmp/ro_debian.XXXXXX)
chmod 755 "$work"
keep=$work/kept
cleanup() {
	[[ -n ${started:-} ]] && cluster_stop >/dev/null 2>&1
	dpkg -s "$pkg" >/dev/null 2>&1 && dpkg -r "$pkg" >/dev/null 2>&1
	# put back what `make install` had installed
	if [[ -d $keep ]]; then
		cp -a "$keep/lib/." "$libdir/" 2>/dev/null
		cp -a "$keep/ext/." "$extdir/" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. build ------------------------------------------------------------------
mkdir -p "$work/src"
tar -C "$repo" --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./results --exclude=./tmp_check --exclude=./bench \
	-cf - . | tar -C "$work/src" -xf -
[[ $(cd "$work/src" && dpkg-parsechangelog -S Version) == "$version" ]]
check $? "debian/changelog gives the control file's version $version"
(cd "$work/src" && env -u COPT dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
rc=$?
check $rc "dpkg-buildpackage -us -uc -b builds (its test step: make installcheck on the package's files)"
((rc == 0)) || show "$work/build.log" 40
grep -E "All [0-9]+ tests passed" "$work/build.log" | sed 's/^/#   package test step: /'
deb=$work/${pkg}_${version}_amd64.deb
[[ -f $deb ]]
check $? "the package is ${pkg}_${version}_amd64.deb"
[[ -f $deb ]] || finish

# ---- 2. install ------------------------------------------------------------------
mkdir -p "$keep/lib" "$keep/ext"
cp -a "$libdir"/reseller_onboarding.so "$keep/lib/" 2>/dev/null
[[ -d $libdir/bitcode/reseller_onboarding ]] && mkdir -p "$keep/lib/bitcode" &&
	cp -a "$libdir/bitcode/reseller_onboarding" "$libdir/bitcode/reseller_onboarding.index.bc" "$keep/lib/bitcode/" 2>/dev/null
cp -a "$extdir"/reseller_onboarding* "$keep/ext/" 2>/dev/null
rm -f "$libdir"/reseller_onboarding.so "$extdir"/reseller_onboarding*

dpkg -i "$deb" >"$work/install.log" 2>&1
check $? "dpkg -i installs it"
listed=$(dpkg -L "$pkg" 2>/dev/null)
missing=()
for f in "$libdir/reseller_onboarding.so" "$extdir/reseller_onboarding.control" \
	$(cd "$repo" && ls sql/reseller_onboarding--*.sql | sed "s|^sql|$extdir|"); do
	grep -qxF "$f" <<<"$listed" && [[ -f $f ]] || missing+=("$f")
done
((${#missing[@]} == 0))
check $? "dpkg lists and installed the library, the control file and every script of sql/ ${missing[*]:+(missing: ${missing[*]})}"

# ---- 3. the suites against the installed files -------------------------------
export RO_PORT=${RO_DEBIAN_PORT:-55471}
RO_PG_BINDIR=/usr/lib/postgresql/15/bin
cluster_start >"$work/cluster.log" 2>&1 || { show "$work/cluster.log"; check 1 "a cluster starts"; finish; }
started=1
chown -R "$RO_PG_OSUSER": "$work/src"

got=$(psql -X -At -U postgres -d postgres -c 'CREATE EXTENSION reseller_onboarding' -c 'SELECT cmp.version()' 2>&1 | tail -1)
[[ $got == "$version" ]]
check $? "CREATE EXTENSION from the package; cmp.version() is $version (got: $got)"
psql -X -q -U postgres -d postgres -c 'DROP EXTENSION reseller_onboarding' -c 'DROP SCHEMA IF EXISTS cmp'

as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
	make -C "$work/src" installcheck >"$work/installcheck.log" 2>&1
rc=$?
check $rc "make installcheck on the installed package: $(grep -Eo 'All [0-9]+ tests passed' "$work/installcheck.log" | paste -sd, -)"
((rc == 0)) || { show "$work/installcheck.log"; cat "$work"/src/regression.diffs "$work"/src/output_iso/regression.diffs 2>/dev/null | head -40; }

as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
	make -C "$work/src" prove-installcheck >"$work/prove.log" 2>&1
rc=$?
files=$(grep -c "^test/.*\.sql \.\." "$work/prove.log")
tests=$(grep -Eo "Tests=[0-9]+" "$work/prove.log" | cut -d= -f2 | awk "{ s += \$1 } END { print s + 0 }")
check $rc "make prove-installcheck on the installed package: $files pgTAP files, ${tests:-0} tests"
((rc == 0)) || show "$work/prove.log"

cluster_stop >/dev/null 2>&1
started=

# ---- 4. remove -------------------------------------------------------------------
dpkg -r "$pkg" >"$work/remove.log" 2>&1
check $? "dpkg -r removes it"
left=()
for f in "$libdir/reseller_onboarding.so" "$extdir"/reseller_onboarding*; do
	[[ -e $f ]] && left+=("$f")
done
((${#left[@]} == 0))
check $? "no file of the package is left ${left[*]:+(left: ${left[*]})}"
finish
