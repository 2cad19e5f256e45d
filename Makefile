# `make demo` and `make test` are the two a newcomer needs; `make test-fast` answers a
# change to the core in under a minute. Each creates .venv and installs gnp into it;
# re-running is quick because the install is redone only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The layers' folders by the names they install under (cli/ is gnp_cli...), for mypy.
NAMES := build/names

.PHONY: test test-fast demo lint bench install clean soak

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "gnp needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

$(NAMES):
	@mkdir -p $(NAMES)
	@for pair in gnp:gnp gnp_cli:cli gnp_deployments:deployments gnp_flows:flows gnp_tasks:tasks; do \
		ln -sfn ../../$${pair#*:} $(NAMES)/$${pair%%:*}; done

lint: $(STAMP) $(NAMES)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Everything: what .ci/run calls.
test: lint
	$(BIN)/python -m pytest

# The tiers that need no Prefect server and no long processes: the core and its
# properties, and the git shell. Under a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/core tests/git

demo: $(STAMP)
	$(BIN)/gnp demo

bench: $(STAMP)
	$(BIN)/python bench/reduce_bench.py

# The long chaos soak (tests/soak): 200 frames x 16 workers with seeded faults, checked
# after every frame. `make soak SEED=n FRAMES=n WORKERS=n` reproduces a run.
soak: $(STAMP)
	$(BIN)/python -m tests.soak.run --frames $(or $(FRAMES),200) --workers $(or $(WORKERS),16) \
		$(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
