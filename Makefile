# lg_keras: `make test` and `make reproduce` are the two commands; see README.md.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# TensorFlow comes as an extra: cpu (tensorflow-cpu) here, gpu (tensorflow[and-cuda]) on GPU hosts.
EXTRAS ?= cpu,test
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
PROFILE ?= cpu
RUNS ?= runs/$(PROFILE)
PYTEST_ARGS ?=

.PHONY: install test test-slow reproduce save-results bench tensorboard lint clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23.2"
	$(PY) -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

# Fast suite (< 15 min on 2 cores): everything not marked slow.
test: $(STAMP) lint
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Long tests: fault injection with real kills, full-size builds, big models.
test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# Every table and figure of the paper at the chosen profile (cpu by default), report in $(RUNS).
# Runs finished in earlier sessions come back from their saved records (results/$(PROFILE), no
# weights) and are not trained again; `make save-results` saves this machine's for git.
RESULTS ?= results/$(PROFILE)
reproduce: $(STAMP)
	if [ -f $(RESULTS)/plan.json ]; then $(VENV)/bin/lg records restore $(RESULTS) $(RUNS); fi
	$(VENV)/bin/lg reproduce --profile $(PROFILE) --out $(RUNS)

save-results: $(STAMP)
	$(VENV)/bin/lg records save $(RUNS) $(RESULTS)

bench: $(STAMP)
	$(PY) -m pipelines.bench --out bench/latest.json

tensorboard: $(STAMP)
	$(VENV)/bin/lg tensorboard $(RUNS)

# Layering rule of STYLE.md: no Beam, kfp, argparse or os.environ inside the library.
lint:
	@! grep -rnE "^\s*(import|from) (apache_beam|kfp|argparse)\b|os\.environ" lg_keras/ \
	  || (echo "lint: lg_keras/ must not use Beam, kfp, argparse or os.environ" && false)
	@! grep -rnE "yaml\.load\(|pickle\.loads?\(" lg_keras/ components/ pipelines/ \
	  || (echo "lint: use yaml.safe_load, never pickle on user input" && false)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
