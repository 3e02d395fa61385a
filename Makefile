# Reweave: `make run` opens the app on the bundled sample; `make test` runs the tests.
# Both first create .venv and install what they need: the pinned CPU build of torch first (so that no
# CUDA build is pulled in), then the project with its GUI and test extras.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench bench-quality bench-speed bench-fewshot weights prior package clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[gui,dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python main.py

test: $(STAMP)
	$(BIN)/ruff check .
	QT_QPA_PLATFORM=offscreen REWEAVE_CACHE_DIR= $(BIN)/python -m pytest -q

bench-quality: $(STAMP)
	$(BIN)/python -m bench.quality

bench-speed: $(STAMP)
	$(BIN)/python -m bench.speed

bench: bench-quality bench-speed

# The shipped few-shot weights' recipe, as recorded in resources/weights/MANIFEST.md (120 and 55 min on the
# 2-core dev CPU, one thread each, side by side; a GPU is used when there is one).
weights: $(STAMP)
	$(BIN)/python resources/weights/trainset.py build/trainset
	OMP_NUM_THREADS=1 $(BIN)/python main.py train-fewshot --engine esdiff --data build/trainset \
		--out resources/weights/esdiff.safetensors --minutes 120 --seed 0 & \
	OMP_NUM_THREADS=1 $(BIN)/python main.py train-fewshot --engine grig --data build/trainset \
		--out resources/weights/grig.safetensors --minutes 55 --seed 0 & \
	wait
	$(BIN)/python -m core.fewshot.grig_train resources/weights/grig.safetensors.ckpt resources/weights/grig.safetensors --net G

# The internal engine's prior (core/engines/internal_prior.py): 75 min on every timestep, then 17 min more on the
# patch recipe's t < 101, one thread each (90 min in all on the 2-core dev CPU). Resumable: re-running continues from
# build/prior/internal_prior_rgb.safetensors.ckpt. Measured, not shipped (docs/engines/internal.md).
prior: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m core.engines.internal_prior --out build/prior/internal_prior_rgb.safetensors \
		--steps 28000 --minutes 75 --resume
	OMP_NUM_THREADS=1 $(BIN)/python -m core.engines.internal_prior --out build/prior/internal_prior_rgb.safetensors \
		--steps 32000 --minutes 92 --resume --t-max 101

bench-fewshot: $(STAMP)
	$(BIN)/python -m bench.esdiff
	$(BIN)/python -m bench.grig

package: $(STAMP)
	$(BIN)/python -m pip install --quiet pyinstaller
	$(BIN)/python -m PyInstaller --noconfirm packaging/reweave.spec

clean:
	rm -rf $(VENV) build dist bench/out
