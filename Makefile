# The two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test deps venv lint typecheck importcheck bench-geo bench kiosk phone volunteer clean

run: deps venv ## start broker + backend (SQLite/SpatiaLite) with demo data
	$(PY) -m devstack

test: deps venv lint typecheck importcheck ## the whole suite against a real broker and real PostGIS
	SDL_VIDEODRIVER=offscreen KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 $(PY) -m pytest -q $(PYTEST_ARGS)

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

kiosk: deps venv
	$(PY) -m kiosk_app --mode kiosk

phone: deps venv
	$(PY) -m kiosk_app --mode phone

volunteer: deps venv
	$(PY) -m kiosk_app --mode volunteer

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
