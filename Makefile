# Atende: `make demo` runs the whole pipeline locally, `make test` runs every test.
# Both install what they need into .venv first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-pip.lock requirements-dev.lock pyproject.toml | cksum | cut -d' ' -f1)

TOOLS       := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-$(shell cat requirements-pip.lock requirements-tools.lock | cksum | cut -d' ' -f1)

# The pip that venv brings may be old: pip 23.2 refuses a hash-pinned lock in which a package
# asks for another's extra (google-cloud-bigquery wants google-auth[pyopenssl]), so each venv
# first gets the pip pinned here.
PIP_PIN := --quiet --disable-pip-version-check --require-hashes -r requirements-pip.lock

.PHONY: install tools browser demo demo-billing up down test test-fast lint eval bench bench-followups lock bundles clean

$(STAMP): requirements-pip.lock requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install $(PIP_PIN)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# checkov lives apart: its bundled HCL parser installs the same module name as python-hcl2.
$(TOOLS_STAMP): requirements-pip.lock requirements-tools.lock
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install $(PIP_PIN)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-tools.lock
	rm -f $(TOOLS)/.installed-*
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded by
# Playwright itself). Installed once with apt when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

demo: install            ## the whole local stack in the foreground; Ctrl-C stops it
	$(PY) -m shared.localstack.stack run

up: install              ## the same stack in the background, returns once healthy
	$(PY) -m shared.localstack.stack up

demo-billing: install    ## against a running stack (`make demo` in another terminal, or `make up`): a billing trail end to end
	$(VENV)/bin/atende demo billing

down:                    ## stop what `make up` started
	$(PY) -m shared.localstack.stack down

test: install tools browser  ## unit, integration, end-to-end and browser tests (starts its own emulators)
	$(PY) -m pytest

test-fast: install       ## unit tests only
	$(PY) -m pytest -m "not integration and not e2e"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

eval: install            ## the evaluation set through the real agent graph (ARGS="--llm vertex" for Gemini)
	$(PY) -m shared.evaluation $(ARGS)

bench: install           ## webhook latency under load against a bare-function floor
	$(PY) bench/webhook_load.py

bench-followups: install ## a follow-up tick's cost per trail against a bare claim-and-publish floor
	$(PY) bench/followups_tick.py

bundles: install         ## one deployable directory per function under build/
	$(PY) scripts/build_bundles.py

lock:                    ## re-pin dependencies (needs network to the package index)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.lock
	echo "checkov==3.3.30" | $(VENV)/bin/uv pip compile - --python-version 3.11 --generate-hashes -o requirements-tools.lock
	echo "pip==26.3" | $(VENV)/bin/uv pip compile - --python-version 3.11 --generate-hashes -o requirements-pip.lock

clean:
	rm -rf $(VENV) $(TOOLS) .local build .pytest_cache .mypy_cache .ruff_cache
