# The README names two targets: `make run` (the main job) and `make test` (every test).
# Both create the virtual environment on first use and install everything into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint browser prometheus bench docs results clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,live]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p runs
	$(BIN)/greenhop feasibility table
	$(BIN)/greenhop feasibility domain --out runs/domain.png
	$(BIN)/greenhop simulate default --policy all
	$(BIN)/greenhop live live-demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts examples
	$(BIN)/mypy src/greenhop
	$(BIN)/lint-imports

# The report's browser test renders report.html in headless Chromium (Debian's package);
# installed here when missing and run as root, else that test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends chromium; }; } ) \
		|| echo "chromium not installed (needs root and apt-get): the browser test will be skipped"

# The live-source tests run a real Prometheus server (Debian's package); installed here when
# missing and run as root, else those tests are skipped and say why.
prometheus:
	@command -v prometheus >/dev/null 2>&1 || ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends prometheus; }; } ) \
		|| echo "prometheus not installed (needs root and apt-get): its tests will be skipped"

test: lint browser prometheus
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

docs: $(STAMP)
	$(BIN)/python scripts/make_model_doc.py
	$(BIN)/python scripts/make_forecast_doc.py
	$(BIN)/python scripts/make_scenario_doc.py

results: $(STAMP)
	$(BIN)/python scripts/make_results_doc.py
	$(BIN)/python scripts/make_partial_results.py
	$(BIN)/python scripts/make_sleep_results.py
	$(BIN)/python scripts/make_claims_results.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
