# OrderCare — every target installs what it needs, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PIP_FLAGS := --quiet --disable-pip-version-check
ROLE ?= customer
SUB ?= cus_demo

.PHONY: help install run test timeshift report lint typecheck security fuzz unit functional integration e2e token sweep sign-webhook fault redrive inbound-email bench load faults clean

help:
	@echo "make run    - the whole local stack on http://127.0.0.1:8000 (Ctrl-C stops it)"
	@echo "make test   - ruff, mypy and every test tier"
	@echo "make -s token ROLE=<customer|agent|admin|storefront> SUB=<id> - a local bearer token"
	@echo "make bench  - performance figures"
	@echo "make load   - 60 s of mixed traffic against a local stack: errors and p50/p95 per route"
	@echo "make fuzz   - schemathesis against make run with a large budget (FUZZ_EXAMPLES=100)"

# --- installation (stamps make it idempotent and cheap) -----------------------
$(VENV)/.stamp-python: requirements.txt documents/requirements.txt requirements-dev.txt infra/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install $(PIP_FLAGS) --upgrade pip >/dev/null 2>&1 || true
	@$(PIP) install $(PIP_FLAGS) -r requirements-dev.txt 2>&1 | grep -v '^WARNING: Location' >&2 || true
	@$(PY) -c "import chalice, pynamodb, moto, pytest" || { echo "python dependencies failed to install" >&2; exit 1; }
	@touch $@

node_modules/.stamp-node: package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || npm ci --no-audit --no-fund
	@touch $@

.stamp-java:
	@if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'; then \
	  echo "installing Java 17 (Debian openjdk-17-jre-headless)" >&2; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; fi
	@touch $@

# Pango for WeasyPrint, which `make bench` renders the comparison invoice with.
.stamp-pango:
	@if ! ldconfig -p | grep -q 'libpangoft2-1.0.so.0'; then \
	  echo "installing Pango (Debian libpango-1.0-0 libpangoft2-1.0-0) for WeasyPrint" >&2; \
	  apt-get update -qq && apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null; fi
	@touch $@

# Debian's qpdf: the e-invoice tests run `qpdf --check` on every invoice and credit note PDF.
.stamp-qpdf:
	@command -v qpdf >/dev/null || { echo "installing Debian's qpdf" >&2; \
	  apt-get update -qq && apt-get install -y -qq qpdf >/dev/null; }
	@touch $@

# Debian's chromium for the browser tests (Playwright drives it; no browser is ever downloaded).
.stamp-chromium:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium" >&2; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@touch $@

# Debian's faketime for the shifted-clock pass of `make test`.
.stamp-faketime:
	@command -v faketime >/dev/null || { echo "installing Debian's faketime" >&2; \
	  apt-get update -qq && apt-get install -y -qq faketime >/dev/null; }
	@touch $@

install: $(VENV)/.stamp-python node_modules/.stamp-node .stamp-java

# --- the local stack -----------------------------------------------------------
run: install
	@$(PY) -m local.stack

token: $(VENV)/.stamp-python
	@$(PY) -m local.token --role "$(ROLE)" --sub "$(SUB)"

sweep: $(VENV)/.stamp-python
	@$(PY) -m local.sweep --at "$(AT)"

# Outage drills on the running local stack: make -s fault SERVICE=ses RATIO=1 [ERROR=throttle] [OPS=SendEmail]
# (SERVICE: s3 ses sesv2 sns dynamodb; ERROR: throttle server timeout); make -s fault CLEAR=1 ends them all.
fault: $(VENV)/.stamp-python
	@$(PY) -m local.fault $(if $(CLEAR),--clear) $(if $(SERVICE),--service "$(SERVICE)") \
		$(if $(RATIO),--ratio "$(RATIO)") $(if $(ERROR),--error "$(ERROR)") $(if $(OPS),--operations "$(OPS)")

# Replay the stream records that ended in the failure queue (.local/failures.jsonl) through the consumer.
redrive: $(VENV)/.stamp-python
	@$(PY) -m local.redrive

# The KPI review of a period (HTML + PDF into .local/reports/): make -s report PERIOD=quarter START=2026-10-01
PERIOD ?= quarter
report: $(VENV)/.stamp-python
	@$(PY) -m local.report --period "$(PERIOD)" --start "$(START)"

# Sign a webhook body for the local stack: make -s sign-webhook KIND=carrier BODY='{"event_id": …}' [SEND=1]
# (BODY reaches the script through the environment, so any quotes in it survive.)
sign-webhook: export BODY := $(BODY)
sign-webhook: $(VENV)/.stamp-python
	@$(PY) -m local.webhook --kind "$(KIND)" $(if $(SEND),--send)

# Hand a raw email to the local stack as SES receiving would: make -s inbound-email FILE=mail.eml
inbound-email: $(VENV)/.stamp-python
	@$(PY) -m local.inbound_email --file "$(FILE)"

# --- tests ---------------------------------------------------------------------
# The tiers spread over the cores with pytest-xdist, whole files per worker (an e2e module keeps its
# stack, a browser module its pages; each worker starts its own DynamoDB Local on a free port).
# The CDK tier is never one of them: its one session synth writes Chalice's package caches in the
# repository, which two workers must not do at once. WORKERS=0 runs everything in-process.
# (xdist's loadgroup would keep a tier on one worker, but with pytest 9 its groups are ignored.)
WORKERS ?= auto
PARALLEL := -n $(WORKERS) --dist loadfile

lint: $(VENV)/.stamp-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.stamp-python
	$(VENV)/bin/mypy

# bandit over the code that ships or runs the stack (findings accepted only with a reasoned `# nosec`);
# the pinned runtime requirements against PyPI's advisories (local/audit_pins.py: pip-audit's per-release
# lookups get 404 from the registry proxy here; pins it cannot vouch for are listed).
security: $(VENV)/.stamp-python
	$(VENV)/bin/bandit -q -c pyproject.toml -r chalicelib app.py local
	$(PY) -m local.audit_pins requirements.txt documents/requirements.txt

# Schema fuzzing with a large budget: schemathesis against the served /openapi.json of a `make run` on free
# ports, every operation as every role it documents (`make test` runs the same suite with 3 examples each).
FUZZ_EXAMPLES ?= 100
fuzz: install
	OC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) OC_FUZZ_TIMEOUT=7200 $(PY) -m pytest tests/e2e/test_fuzz_http.py -q -p no:cacheprovider

unit: $(VENV)/.stamp-python .stamp-qpdf
	$(PY) -m pytest tests/unit -q $(PARALLEL)

functional: $(VENV)/.stamp-python .stamp-qpdf
	$(PY) -m pytest tests/functional -q $(PARALLEL)

integration: install
	$(PY) -m pytest tests/integration -q

e2e: install
	$(PY) -m pytest tests/e2e -q

# The CDK tier runs alongside the others, in one process of its own: most of its time is Node
# (jsii) and `chalice package` waiting on the package index, which leaves the cores to the rest.
test: install .stamp-chromium .stamp-qpdf lint typecheck security
	@mkdir -p .local
	@$(PY) -m pytest tests/infra -q -p no:cacheprovider > .local/cdk-tier.log 2>&1 & cdk=$$!; \
	echo "$(PY) -m pytest tests -q $(PARALLEL) --durations=15 --ignore=tests/infra  (the CDK tier alongside)"; \
	$(PY) -m pytest tests -q $(PARALLEL) --durations=15 --ignore=tests/infra; main=$$?; \
	wait $$cdk; cdk=$$?; echo "--- the CDK tier (tests/infra):"; cat .local/cdk-tier.log; \
	test $$main -eq 0 && test $$cdk -eq 0
	@$(MAKE) --no-print-directory timeshift

# The unit tier once more with the wall clock 400 days ahead, so a date that only works this month
# fails today. The functional tier cannot see the wall clock (its modules are imported and its tests
# run at tests.clock.FROZEN_AT), so only canaries of it run again: the modules whose libraries keep
# time of their own (JWT expiry, webhook signature tolerance, signed links, presigned URLs, cursors).
TIMESHIFT ?= +400d
TIMESHIFT_CANARIES := $(addprefix tests/functional/,test_auth_and_catalog_api.py test_stripe_webhook.py \
	test_tracking_page.py test_documents_api.py test_notifications.py test_order_numbers_and_timeline.py)
timeshift: $(VENV)/.stamp-python .stamp-faketime .stamp-qpdf
	@echo "timeshift: the clock reads $$(faketime -f '$(TIMESHIFT)' date -u +%F)"
	faketime -f '$(TIMESHIFT)' $(PY) -m pytest tests/unit $(TIMESHIFT_CANARIES) -q -p no:cacheprovider $(PARALLEL)

bench: install .stamp-pango
	$(PY) -m bench

# Mixed traffic on loopback against a local stack of its own (free ports): 0 errors, p50/p95 per route.
# OC_LOAD_SECONDS (60) and OC_LOAD_USERS (8) size it; not part of `make test` (the e2e tier runs 10 s).
load: install
	$(PY) -m bench.load

# The fault-injection harness (tests/functional/chaos.py): N orders under 20 % failing S3/SES/SNS/DynamoDB
# SDK attempts, requests failing part-way (5xx, retried) and 2-5x stream replays, against a calm run of
# the same scenario; prints what it injected, replayed and retried. `make test` plays it with 10 orders
# (~35 s CPU); 200 orders took ~16 min CPU here (32 min wall on a loaded machine).
FAULT_ORDERS ?= 200
faults: $(VENV)/.stamp-python .stamp-qpdf
	OC_FAULT_ORDERS=$(FAULT_ORDERS) $(PY) -m pytest tests/functional/test_fault_harness.py -q -s -p no:cacheprovider

clean:
	rm -rf $(VENV) node_modules documents/.staged .stamp-java .stamp-faketime .stamp-qpdf .local .mypy_cache .ruff_cache .pytest_cache

# --- AWS: the CDK app in infra/ (synth works offline; deploy uses your AWS credentials) ---
.PHONY: infra-install synth deploy
STAGE ?= dev
CDK_ARGS ?=
CDK := node_modules/.bin/cdk
# `cdk synth` needs no AWS account: a placeholder account/region, no instance metadata,
# no notices or telemetry (both reach the network), jsii quiet about the Node version.
CDK_QUIET := CDK_DISABLE_CLI_TELEMETRY=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
CDK_OFFLINE := $(CDK_QUIET) CDK_DEFAULT_ACCOUNT=123456789012 CDK_DEFAULT_REGION=eu-central-1 \
	AWS_DEFAULT_REGION=eu-central-1 AWS_EC2_METADATA_DISABLED=true

$(VENV)/.stamp-infra: $(VENV)/.stamp-python infra/requirements.txt
	@$(PIP) install $(PIP_FLAGS) -r infra/requirements.txt 2>&1 | grep -v '^WARNING: Location' >&2 || true
	@$(CDK_QUIET) $(PY) -c "import aws_cdk, constructs, cfnlint" || { echo "infra dependencies failed to install" >&2; exit 1; }
	@touch $@

infra/node_modules/.stamp-cdk: infra/package.json infra/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@cd infra && { npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || npm ci --no-audit --no-fund; }
	@infra/$(CDK) --version | grep -q '^2\.' || { echo "infra/: expected the aws-cdk 2.x CLI" >&2; exit 1; }
	@touch $@

infra-install: $(VENV)/.stamp-infra infra/node_modules/.stamp-cdk

synth: infra-install
	@rm -rf infra/cdk.out
	cd infra && $(CDK_OFFLINE) $(CDK) synth --no-notices --quiet -c stage=$(STAGE) $(CDK_ARGS)
	@echo "synthesized OrderCare-$(STAGE) into infra/cdk.out/ (template: infra/cdk.out/OrderCare-$(STAGE).template.json)"

deploy: infra-install
	cd infra && $(CDK_QUIET) $(CDK) deploy --no-notices -c stage=$(STAGE) $(CDK_ARGS) \
		--require-approval broadening --outputs-file outputs-$(STAGE).json
	@echo "stack outputs: infra/outputs-$(STAGE).json"
