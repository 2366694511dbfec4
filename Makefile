# `make demo` runs the main job, `make test` the suite; both set up .venv on first use.
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: test demo bench floors lint typecheck pytest clean

$(VENV_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,examples]'
	touch $(VENV_STAMP)

test: $(VENV_STAMP) lint typecheck pytest

lint: $(VENV_STAMP)
	$(PY) -m ruff check ember tests benchmarks examples

typecheck: $(VENV_STAMP)
	$(PY) -m mypy

pytest: $(VENV_STAMP)
	$(PY) -m pytest -n 2

demo: $(VENV_STAMP)
	$(PY) examples/train_digits.py

bench: $(VENV_STAMP)
	$(PY) -m benchmarks.run

floors: $(VENV_STAMP)
	$(PY) -m benchmarks.floors

clean:
	rm -rf .venv build *.egg-info
