# l10n_pl_ksef_token — developer entry points. Quick start: `make demo`, `make test`.
#
# Everything is set up on demand and idempotently:
#   ODOO_SRC  an Odoo 18.0 source tree (default ~/src/odoo-18.0; cloned from upstream if absent)
#   VENV      the virtualenv with Odoo's pins and our dependencies (default ~/.cache/l10n_pl_ksef_token/venv)
#   BUILD     generated Odoo configuration, encryption key and addons path (outside the checkout)
SHELL := /bin/bash
.DEFAULT_GOAL := help

ODOO_SRC ?= $(HOME)/src/odoo-18.0
VENV     ?= $(HOME)/.cache/l10n_pl_ksef_token/venv
PY       := $(VENV)/bin/python
MODULE   := l10n_pl_ksef_token
# generated configuration, encryption key and addons path, outside the checkout (a link to
# the checkout inside it would make the tree contain itself), one per checkout
BUILD    ?= $(HOME)/.cache/l10n_pl_ksef_token/build/$(notdir $(CURDIR))-$(shell printf %s "$(CURDIR)" | sha1sum | cut -c1-8)
DEMO_DB  ?= ksef_demo
TEST_DB  ?= ksef_test
TEST_HTTP_PORT ?=
export TEST_HTTP_PORT
HTTP_PORT ?= 8069
PORT     ?= 8090
export ODOO_SRC VENV

.PHONY: help setup config demo test lint test-ksef test-odoo simulator bench pot clean

help:
	@echo "make demo       set up what is missing, then serve Odoo with the addon and sample data at http://localhost:$(HTTP_PORT) (admin/admin)"
	@echo "make test       set up what is missing, then run lint, the pure-Python tests and the Odoo tests"
	@echo "make simulator  serve the local KSeF simulator on 127.0.0.1:\$$PORT (default 8090)"
	@echo "make test-odoo  only the Odoo tests (T=\"tests/test_x.py ...\" for some, TEST_DB=... for another database)"
	@echo "make bench      run the benchmarks"
	@echo "make pot        regenerate i18n/$(MODULE).pot from a fresh database"

setup:
	@bash tools/setup_env.sh

config: setup
	@ODOO_SRC="$(ODOO_SRC)" VENV="$(VENV)" bash tools/make_config.sh "$(BUILD)"

demo: config
	@bash tools/run_demo.sh "$(BUILD)" "$(DEMO_DB)" "$(HTTP_PORT)"

lint: setup
	@PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure
	@PATH="$(VENV)/bin:$$PATH" bash tools/lint_selftest.sh

# from inside ksef/tests, so that pytest never imports the addon (and Odoo) around the package
test-ksef: setup
	@cd ksef/tests && $(PY) -m pytest -p no:odoo -p no:cacheprovider -q --rootdir=. .

test-odoo: config
	@bash tools/run_tests.sh "$(BUILD)" "$(TEST_DB)" $(or $(T),tests)

# One pytest run for the pure-Python and the Odoo tests, so the closing line counts them all.
test: config lint
	@bash tools/run_tests.sh "$(BUILD)" "$(TEST_DB)" all

simulator: setup
	@PORT=$(PORT) $(PY) -m ksef.simulator

bench: config
	@$(PY) bench/bench_ksef.py
	@bash tools/run_bench_odoo.sh "$(BUILD)" bench/bench_odoo.py
	@bash tools/run_bench_odoo.sh "$(BUILD)" bench/bench_sessions.py
	@bash tools/run_bench_odoo.sh "$(BUILD)" bench/bench_factory.py

pot: config
	@bash tools/make_pot.sh "$(BUILD)"

clean:
	rm -rf "$(BUILD)"
