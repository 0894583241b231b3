# loginvault — the two commands a new machine needs:
#   make demo   run the main job end to end on a private PostgreSQL + local SQS
#   make test   install what is missing, build, start servers, run every test
#
# By hand: make db-up / make psql / make db-down, make sqs-up / make sqs-down,
# make down (both), make build, make install PREFIX=/usr/local.
# Longer runs: make bench, make bench-sql, make bench-retention, make chaos (LocalStack), make security.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

LOCAL   := .build/local
DEV_PG  := $(LOCAL)/pg
DEV_SQS := $(LOCAL)/sqs
PREFIX  ?= /usr/local
SWIFT_BUILD_FLAGS ?=
BIN = $(shell swift build $(SWIFT_BUILD_FLAGS) --show-bin-path)/loginvault

.PHONY: help deps build test demo db-up db-down psql sqs-up sqs-down down install clean

help:
	@sed -n '2,8p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/install-deps.sh

build: deps
	@swift build $(SWIFT_BUILD_FLAGS) 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
	@test -x "$(BIN)"

test: deps
	@swift build --build-tests $(SWIFT_BUILD_FLAGS) 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|^Compiling|^Building|^Write' || true
	@scripts/with-servers.sh scripts/run-tests.sh

demo: build db-up sqs-up
	@source $(DEV_PG)/env && source $(DEV_SQS)/env && LOGINVAULT_BIN="$(BIN)" scripts/demo.sh

db-up: deps
	@scripts/pg-cluster.sh start $(DEV_PG)
	@source $(DEV_PG)/env && echo "PostgreSQL on $$PGHOST:$$PGPORT (data in $$LOGINVAULT_PGDATA); 'source $(DEV_PG)/env' to use it"

db-down:
	@scripts/pg-cluster.sh stop $(DEV_PG)

psql: db-up
	@source $(DEV_PG)/env && psql -d $${DB:-loginvault_demo}

sqs-up: deps
	@scripts/moto.sh start $(DEV_SQS)
	@source $(DEV_SQS)/env && echo "moto_server (SQS) on $$LOGINVAULT_TEST_SQS_ENDPOINT"

sqs-down:
	@scripts/moto.sh stop $(DEV_SQS)

down: sqs-down db-down

# make install builds the release configuration (make build stays debug, for development).
# INSTALL_CONFIG=debug installs the debug build instead (make test checks the layout with it,
# so that it does not compile everything a second time).
INSTALL_CONFIG ?= release
install: deps
	@swift build -c $(INSTALL_CONFIG) $(SWIFT_BUILD_FLAGS) 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
	install -d "$(PREFIX)/bin" "$(PREFIX)/share/loginvault"
	install -m 755 "$$(swift build -c $(INSTALL_CONFIG) $(SWIFT_BUILD_FLAGS) --show-bin-path)/loginvault" "$(PREFIX)/bin/loginvault"
	cp -R sql "$(PREFIX)/share/loginvault/"
	git rev-parse HEAD > "$(PREFIX)/share/loginvault/COMMIT" 2>/dev/null || echo unknown > "$(PREFIX)/share/loginvault/COMMIT"

clean: down
	rm -rf .build

bench-sql:
	@bench/sql/run.sh

# make bench-retention: the cost of retention at 1 million rows (batched DELETE vs dropping
# monthly partitions, WAL, effect on processing); never part of make test.
.PHONY: bench-retention
bench-retention:
	@bench/retention.sh

# make bench: loginvault vs reference loaders, side by side (see docs/benchmarks.md).
# Uses LocalStack from PyPI (no Docker) in .build/local/bench-venv; never part of make test.
.PHONY: bench localstack-up localstack-down
LOCALSTACK_DIR := $(LOCAL)/localstack

bench: deps
	@bench/run.sh

localstack-up: deps
	@scripts/localstack.sh start $(LOCALSTACK_DIR)
	@source $(LOCALSTACK_DIR)/env && echo "LocalStack (SQS) on $$LOCALSTACK_ENDPOINT; 'source $(LOCALSTACK_DIR)/env' to use it"

localstack-down:
	@scripts/localstack.sh stop $(LOCALSTACK_DIR)

# The chaos suite's full profile (issue 6, docs/reliability.md): crash loop, database
# restarts, SQS faults, concurrency and a 10-minute soak against LocalStack, then the
# figures table. `make test` runs the quick profile on moto. LocalStack comes from
# `make localstack-up` when that target exists, unless LOGINVAULT_CHAOS_SQS_ENDPOINT is set.
# The security suite and hostile corpus alone, with their figures (also part of make test
# as plain tests, and of make chaos for the table's last two columns).
.PHONY: security
security: deps
	@swift build --build-tests $(SWIFT_BUILD_FLAGS) 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|^Compiling|^Building|^Write' || true
	@scripts/with-servers.sh scripts/security-suite.sh

.PHONY: chaos
chaos: deps
	@swift build --build-tests $(SWIFT_BUILD_FLAGS) 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]|^Compiling|^Building|^Write' || true
	@started_localstack=; \
	if [ -z "$${LOGINVAULT_CHAOS_SQS_ENDPOINT:-}" ] && $(MAKE) -n localstack-up >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory localstack-up && started_localstack=1; \
	fi; \
	status=0; scripts/with-servers.sh scripts/chaos.sh || status=$$?; \
	if [ -n "$$started_localstack" ] && $(MAKE) -n localstack-down >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory localstack-down || true; \
	fi; \
	exit $$status
