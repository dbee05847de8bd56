EXTENSION = reseller_onboarding
MODULE_big = reseller_onboarding
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = sql/reseller_onboarding--1.0.sql sql/reseller_onboarding--1.0--1.1.sql

# pg_regress suites live in sql/ and expected/; the list is the file names.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/reseller_onboarding--%,$(wildcard sql/*.sql))))

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/reseller_onboarding.h
