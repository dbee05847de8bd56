#!/usr/bin/env bash
# tools/setup.sh -- make sure the toolchain is installed, then build and
# install the extension.  Idempotent: installs only what is missing, and
# touches apt at all only when something is.
#
#   bash tools/setup.sh
#
# RO_SKIP_BUILD=1 skips the build (only the package check runs).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pgbin=/usr/lib/postgresql/15/bin

# What we need, as "package:path-that-proves-it-is-installed".  Each path is
# a file that only that package ships and that the build or the tests
# actually use: pgxs.mk and pg_config also come with postgresql-client-15, so
# only the server headers prove postgresql-server-dev-15.  Prefer the
# version-specific pg_config: /usr/bin/pg_config is a wrapper that picks the
# *newest* installed server-dev, which would be wrong the day a second major
# version is installed next to 15.
pg_config=$pgbin/pg_config
[[ -x $pg_config ]] || pg_config=/usr/bin/pg_config
includedir_server=/usr/include/postgresql/15/server
if [[ -x $pg_config ]]; then
	includedir_server=$("$pg_config" --includedir-server)
fi
needs=(
	"postgresql-15:$pgbin/postgres"
	"postgresql-server-dev-15:$includedir_server/postgres.h"
	# OpenSSL's headers: the signatures of identity tokens (src/token.c)
	"libssl-dev:/usr/include/openssl/evp.h"
	"postgresql-15-pgtap:/usr/share/postgresql/15/extension/pgtap.control"
	"libtap-parser-sourcehandler-pgtap-perl:/usr/bin/pg_prove"
	"pgbouncer:/usr/sbin/pgbouncer"
	# the fuzz suite (test/suites/fuzz.sh)
	"sqlsmith:/usr/bin/sqlsmith"
	# logical decoding of the change feed (test/suites/event_decoding.sh)
	"postgresql-15-wal2json:/usr/lib/postgresql/15/lib/wal2json.so"
	# the Debian package (debian/, test/suites/debian_package.sh)
	"dpkg-dev:/usr/bin/dpkg-buildpackage"
	"debhelper:/usr/bin/dh"
	"postgresql-server-dev-all:/usr/share/perl5/Debian/Debhelper/Sequence/pgxs_loop.pm"
)


missing=()
for need in "${needs[@]}"; do
	pkg=${need%%:*} path=${need#*:}
	[[ -e $path ]] || missing+=("$pkg")
done
if ! command -v gcc >/dev/null || ! command -v make >/dev/null; then
	missing+=(build-essential)
fi
# the Node.js example (examples/node): any node and npm will do
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "setup: missing packages: ${missing[*]}" >&2
		echo "setup: as root, run: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[[ ${RO_SKIP_BUILD:-0} == 1 ]] && exit 0

[[ -e $("$pg_config" --includedir-server)/postgres.h ]] || {
	echo "setup: server headers missing: $("$pg_config" --includedir-server)/postgres.h" >&2; exit 1; }
case $("$pg_config" --version) in
	"PostgreSQL 15."*) ;;
	*) echo "setup: $pg_config is not PostgreSQL 15: $("$pg_config" --version)" >&2; exit 1 ;;
esac

if [[ $(id -u) -ne 0 && ! -w $("$pg_config" --pkglibdir) ]]; then
	echo "setup: cannot write $("$pg_config" --pkglibdir); run as root to install the extension" >&2
	exit 1
fi

echo "setup: building and installing reseller_onboarding"
# -s keeps the output to warnings and errors.
make -s --no-print-directory -C "$repo" PG_CONFIG="$pg_config" clean
make -s --no-print-directory -C "$repo" PG_CONFIG="$pg_config" all
make -s --no-print-directory -C "$repo" PG_CONFIG="$pg_config" install
