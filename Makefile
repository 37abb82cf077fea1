# Complaint Radar — set-up, run and test. Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_CSV   := data/demo/demo_complaints.csv
DEMO_STORE := data/store/complaints.duckdb
PORT ?= 8501

.PHONY: run test venv demo-store browser bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(DEMO_STORE): $(STAMP) $(DEMO_CSV)
	$(PY) -m analysis build --db $(DEMO_STORE) $(DEMO_CSV)

demo-store: $(DEMO_STORE)

run: $(STAMP) $(DEMO_STORE)
	@echo "投诉雷达 starting at http://127.0.0.1:$(PORT) (this machine only; README: 登录与角色)"
	$(PY) -m ui.launch --server.port $(PORT) --server.headless true

# The browser test needs Debian's chromium; scripts/install_browser.sh installs it when missing.
browser:
	bash scripts/install_browser.sh

test: $(STAMP) browser
	$(PY) -m pytest -q

# Benchmarks and evaluations print their figures (see bench/README.md); eval_* need ../shared.
bench: $(STAMP)
	for script in bench/bench_*.py bench/eval_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) data/store .pytest_cache

$(DEMO_CSV):
	$(PY) -m analysis demo --out $(DEMO_CSV)
