EXTENSION = reseller_onboarding
# the control file is the single source of the version
EXTVERSION = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)
MODULE_big = reseller_onboarding
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = sql/reseller_onboarding--1.0.sql sql/reseller_onboarding--1.0--1.1.sql

# pg_regress suites live in sql/ and expected/; the list is the file names.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/reseller_onboarding--%,$(wildcard sql/*.sql))))

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -DRO_VERSION='"$(EXTVERSION)"' -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/reseller_onboarding.h src/actor.h

# META.json must name the control file's version (as x.y.0)
all: check-meta
.PHONY: check-meta
check-meta:
	@grep -q '"version": "$(EXTVERSION).0"' META.json || \
		{ echo "META.json does not give version $(EXTVERSION).0 (the control file's)" >&2; exit 1; }
