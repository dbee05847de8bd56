EXTENSION = reseller_onboarding
# the control file is the single source of the version
EXTVERSION = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)
MODULE_big = reseller_onboarding
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = sql/reseller_onboarding--1.0.sql sql/reseller_onboarding--1.0--1.1.sql

# pg_regress suites live in sql/ and expected/; the list is the file names.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/reseller_onboarding--%,$(wildcard sql/*.sql))))

# isolation specs: `make installcheck` runs them after the pg_regress suites
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -DRO_VERSION='"$(EXTVERSION)"' -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
# OpenSSL (libssl-dev), which PostgreSQL itself links: token signatures
SHLIB_LINK = -lcrypto
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/reseller_onboarding.h src/actor.h src/lookup.h

# META.json must name the control file's version
all: check-meta
.PHONY: check-meta
check-meta:
	@test "$$(grep -c '"version": "$(EXTVERSION)"' META.json)" -eq 2 || \
		{ echo "META.json does not give version $(EXTVERSION) (the control file's) for the release and the extension" >&2; exit 1; }

# pgTAP against a running server (like installcheck): a new database per
# file, with pgtap and the extension; PGHOST, PGPORT and PGUSER as usual.
PROVE_DB ?= contrib_regression_tap
.PHONY: prove-installcheck
prove-installcheck:
	@set -e; for f in $(sort $(wildcard test/*.sql)); do \
		dropdb --if-exists $(PROVE_DB) >/dev/null; createdb $(PROVE_DB); \
		psql -X -q -d $(PROVE_DB) -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION reseller_onboarding'; \
		pg_prove -d $(PROVE_DB) $$f; \
	done; dropdb --if-exists $(PROVE_DB)
