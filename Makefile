# Kanta: the few things a newcomer runs.  `make report` (main job) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kanta-installed
DEMO := data/demo
SAMPLE := data/sample
PERIOD ?=
LANG_REPORT ?= en

LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
DEV_STAMP := $(VENV)/.kanta-dev-installed

.PHONY: report test lab venv lock demo-data sample-data subscriptions-data notebooks browser postgres benchmark spark-check clean

# The venv installs exactly the pinned versions of requirements.lock (what the package needs to run:
# `make report`), then the package itself; `make test` adds requirements-dev.lock (tests, lint, Spark,
# browser, PostgreSQL driver, JupyterLab). Each is redone when pyproject.toml or its lock is newer.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet -r $(DEV_LOCK)
	@touch $(DEV_STAMP)

venv: $(STAMP)

# Regenerate both locks after changing dependencies in pyproject.toml: the runtime lock first, then the
# dev lock constrained to it (so tests run on exactly the runtime pins). Versions already pinned are kept
# where they still fit; `make lock UPGRADE=1` moves everything to the newest allowed versions.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python $(BIN)/python \
	  $(if $(UPGRADE),--upgrade,) --quiet -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python $(BIN)/python -c $(LOCK) \
	  $(if $(UPGRADE),--upgrade,) --quiet -o $(DEV_LOCK)

$(DEMO)/transactions.parquet: | $(STAMP)
	$(BIN)/kanta demo-data --out $(DEMO)

demo-data: $(DEMO)/transactions.parquet

report: $(STAMP) $(DEMO)/transactions.parquet
	$(BIN)/kanta report --data $(DEMO) --out reports --lang $(LANG_REPORT) $(if $(PERIOD),--period $(PERIOD),)

# Chromium for the real-browser check: Debian's package (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install Debian's chromium package (sudo apt-get install chromium)"; fi; }

# A PostgreSQL server for tests/test_postgres.py: Debian's package (the test runs it as nobody in a temporary folder).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "postgresql missing: install Debian's postgresql package (sudo apt-get install postgresql)"; fi; }

# tests/ includes the docstring examples of every module (test_doctests.py) and a non-editable install (test_install.py).
test: $(DEV_STAMP) browser postgres
	$(BIN)/ruff check src tests benchmarks
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile --nbval-lax --nbval-current-env tests notebooks

lab: $(DEV_STAMP)
	$(BIN)/jupyter lab notebooks/

# Rebuild the committed small sample (2,000 customers) after changing the generator.
sample-data: $(STAMP)
	$(BIN)/kanta demo-data --out $(SAMPLE) --customers 2000 --seed 2026 --format csv

# The lottery-subscription company (contract ends, weekly draws): the retention notebook's default source.
subscriptions-data: $(STAMP)
	$(BIN)/kanta demo-data --subscriptions --out data/subscriptions --customers 1000 --seed 2026 --format csv

# Re-execute the committed notebooks on the sample (their outputs are what nbval compares).
notebooks: $(DEV_STAMP)
	cd notebooks && for nb in *.ipynb; do MPLBACKEND=Agg ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

benchmark: $(DEV_STAMP)
	$(BIN)/python benchmarks/run.py

# The customer-table SQL on Spark gives the same table as on DuckDB (needs Java; installs the spark extra).
spark-check: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[spark]'
	$(BIN)/python benchmarks/spark_check.py $(SAMPLE)

clean:
	rm -rf $(VENV) build .pytest_cache
