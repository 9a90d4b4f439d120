# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test screenshots bench soak soak-long clean

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
screenshots: $(STAMP)
	env -u NO_COLOR TZ=UTC XDG_CONFIG_HOME=$$(mktemp -d) $(BIN)/python -m cuadra_top.tui.screenshots screenshots

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
