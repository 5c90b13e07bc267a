# The two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test check deps venv lint typecheck importcheck bench-geo bench fuzz kiosk phone volunteer clean

# `make run` ends when make is stopped, however it is stopped. Make does not pass a SIGINT
# sent to it alone on to its child (it waits for the child for ever), but it deletes the
# target file of a recipe interrupted by SIGINT, SIGTERM or SIGHUP when the recipe changed
# it. So the target is a real file, the supervisor's pid file: the supervisor writes it at
# start and stops the stack when it is gone. `exec` makes the supervisor make's own child,
# and it asks Linux for SIGTERM when make dies (PR_SET_PDEATHSIG), e.g. by SIGKILL.
STACK_PID := $(or $(SR_DEV_VAR),var)/run/stack.pid

run: $(STACK_PID) ## start broker + backend (SQLite/SpatiaLite) with demo data

$(STACK_PID): deps venv FORCE
	@mkdir -p $(@D)
	exec $(PY) -m devstack --pidfile $@

FORCE:

# The suite waits on brokers, databases, browsers and fsync more than it computes, and each
# test starts its own services on free ports: two pytest-xdist workers, a test file each at a
# time (module fixtures stay in one process). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

test: deps venv lint typecheck importcheck ## the whole suite against a real broker and real PostGIS
	SDL_VIDEODRIVER=offscreen KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The fast loop (under two minutes on 2 cores): lint, types, import contracts and every test
# that starts no broker, database or browser and is not slow (markers set by tests/conftest.py).
check: deps venv lint typecheck importcheck
	SDL_VIDEODRIVER=offscreen KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 $(PY) -m pytest -q -m "not integration and not slow" $(PYTEST_ARGS)

deps:
	@bash scripts/install-system-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy protocol geo

importcheck: venv
	$(VENV)/bin/lint-imports

bench-geo: venv
	$(PY) -m geo.bench $(BENCH_ARGS)

bench: deps venv ## the whole system end to end against the broker's own QoS 1 ceiling
	$(PY) -m bench $(BENCH_E2E_ARGS)

fuzz: deps venv ## 100,000 hostile payloads through a real broker to a real worker on PostGIS
	$(PY) -m tests.system.fuzz --count $(or $(FUZZ_COUNT),100000) $(FUZZ_ARGS)

kiosk: deps venv
	$(PY) -m kiosk_app --mode kiosk

phone: deps venv
	$(PY) -m kiosk_app --mode phone

volunteer: deps venv
	$(PY) -m kiosk_app --mode volunteer

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
