# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test screenshots bench soak soak-long clean e2e-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cuadra-top --demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Frozen clock, UTC, colour on, no user theme files: the same pictures on every machine.
# screenshots/web.png: `cuadra-top --demo web` in headless Chromium (`make e2e-deps`), by its test.
screenshots: $(STAMP)
	env -u NO_COLOR TZ=UTC XDG_CONFIG_HOME=$$(mktemp -d) $(BIN)/python -m cuadra_top.tui.screenshots screenshots
	CUADRA_TOP_E2E=require CUADRA_TOP_WEB_SCREENSHOT=$(CURDIR)/screenshots/web.png \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_web_e2e.py -k demo_in_chromium

# Benchmarks (issue 5): ~16 min; writes bench/RESULTS.md and bench/results.json.
bench: $(STAMP)
	$(BIN)/python -m bench

# Soak (issue 4): 40 demo orgs with rotating faults and random keys in a headless app for 5 min;
# fails on any unhandled exception or memory that keeps growing.
soak: $(STAMP)
	$(BIN)/python soak/soak.py --seconds 300

# Long soak (issue 10): the real cuadra-top in a pseudo-terminal for 30 min, 40 orgs at
# --interval 5, a key every 10 s, a few orgs failing in rotation; prints its RSS per minute and
# fails if the program dies or its RSS still grows in the second half (> 2 MiB/hour).
soak-long: $(STAMP)
	$(BIN)/python soak/long.py --minutes 30

# What the end-to-end tests need (tests/e2e/): Debian's prometheus package, for
# /usr/bin/prometheus and /usr/bin/promtool, and its chromium and chromium-driver, for a headless
# browser on `cuadra-top web` (/usr/bin/chromium, /usr/bin/chromedriver). Installed without
# starting any system service (a policy-rc.d that refuses every start while apt runs, removed
# after unless it was there before); as root, or through sudo.
E2E_PACKAGES := prometheus chromium chromium-driver
E2E_COMMANDS := prometheus promtool chromium chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
e2e-deps:
	@missing=; for c in $(E2E_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -z "$$missing" ]; then echo "e2e-deps: $(E2E_COMMANDS) are installed"; exit 0; fi; \
	echo "e2e-deps: installing $(E2E_PACKAGES) (missing:$$missing)"; \
	set -e; ours=; \
	if [ ! -e /usr/sbin/policy-rc.d ]; then \
		printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
		$(SUDO) chmod 755 /usr/sbin/policy-rc.d; ours=1; fi; \
	trap '[ -z "$$ours" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d' EXIT; \
	$(SUDO) apt-get update -qq; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
		apt-get install -y -qq --no-install-recommends $(E2E_PACKAGES) >/dev/null; \
	prometheus --version 2>&1 | head -1; promtool --version 2>&1 | head -1; \
	chromium --version; chromedriver --version

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
