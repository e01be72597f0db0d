# Sehat — set-up, test, demo. Everything installs into the project-local .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck demo bench soak assets clean i18n

install: $(STAMP)

$(STAMP): setup.py pyproject.toml scripts/install-system-packages
	scripts/install-system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

demo: install
	$(BIN)/sehat demo

bench: install
	$(BIN)/python -m bench.run --out BENCHMARKS.md

# The box under load and attack, for about 15–20 minutes (needs root: it mounts a tmpfs).
# Not part of `make test`, which runs the short version (tests/test_soak_short.py).
soak: install
	$(BIN)/python -m soak

# Re-vendor the pinned browser assets (needs npm and the registry; the output is committed).
assets:
	scripts/vendor-assets

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The UI's message catalogues: extract every _() string, merge into each language, compile.
i18n: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project=sehat -o appliance/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i appliance/translations/messages.pot \
		-d appliance/translations
	$(BIN)/pybabel compile --statistics -d appliance/translations
