# Two commands on a fresh machine: `make demo` and `make test`. Everything else is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0

.PHONY: install demo test test-all lint lint-templates typecheck check-infra build package-sizes \
	browser bench bench-due bench-campaign bench-import clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The SAM CLI pins its own boto3, so it lives in a virtual environment of its own.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.120'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/lifecycle simulate

# The suite runs on every core (pytest-xdist): each test builds its own moto world.
test: lint typecheck check-infra lint-templates browser build package-sizes
	$(BIN)/pytest -m "not slow" -n auto

test-all: lint typecheck check-infra lint-templates browser build package-sizes
	$(BIN)/pytest -n auto

# Browser tests drive Debian's Chromium with Playwright (no browser download). Without root or
# apt-get they are skipped, and say so.
browser:
	@tests/browser/install-chromium.sh

lint-templates: install
	$(BIN)/lifecycle lint templates

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check-infra: install $(SAM_VENV)/.installed
	$(BIN)/cfn-lint infra/template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template infra/template.yaml --region $(REGION)
	$(SAM_VENV)/bin/sam validate --template infra/template.yaml --region $(REGION)

# `sam build` without Docker needs the template's runtime, Python 3.13, first on PATH
# (infra/find-python313.sh finds one or says how to install one). --cached rebuilds only what
# changed: the dependencies layer only when layers/dependencies/ does.
build: $(SAM_VENV)/.installed
	@py313=$$(infra/find-python313.sh) && echo "sam build with $$py313/python3.13" && \
	PATH="$$py313:$$PATH" $(SAM_VENV)/bin/sam build --template infra/template.yaml \
		--cached --parallel

# What a deploy uploads, zipped as SAM zips it: fails over 25 MB or on a package that ships
# what it must not (lifecycle/local/package_sizes.py).
package-sizes: install build
	$(BIN)/python -m lifecycle.local.package_sizes

bench: install build
	@py313=$$(infra/find-python313.sh) && PATH="$$py313:$$PATH" $(BIN)/lifecycle bench
	@$(MAKE) --no-print-directory bench-due
	@$(MAKE) --no-print-directory bench-campaign
	@$(MAKE) --no-print-directory bench-import

# The daily run (planner and worker) over 100,000 and 1,000,000 profiles, over moto: items read
# per customer due, time per 1,000 due, AWS calls per message (about 70 min).
bench-due: install
	$(BIN)/lifecycle bench-due

# A campaign of 100,000 recipients through the real planner, queues and senders over moto,
# against a stand-in SES enforcing 20 a second (what moto on 2 cores keeps up with): achieved
# rate, throttling, AWS calls per recipient, planner time, welcome latency beside it. Long:
# the sending alone is 100,000 / 10 a second (about 3 hours); RECIPIENTS=5000 for a short run.
RECIPIENTS ?= 100000
bench-campaign: install
	$(BIN)/lifecycle bench-campaign --recipients $(RECIPIENTS)

# The Pinpoint import of 100,000 endpoints over moto: a dry run, the import, a re-import; time,
# DynamoDB requests and items written per customer.
ENDPOINTS ?= 100000
bench-import: install
	$(BIN)/lifecycle bench-import --endpoints $(ENDPOINTS)

clean:
	rm -rf $(VENV) $(SAM_VENV) out .aws-sam .mypy_cache .ruff_cache .pytest_cache
