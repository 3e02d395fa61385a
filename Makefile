# Reweave: `make run` opens the app on the bundled sample; `make test` runs the tests.
# Both first create .venv and install what they need: the pinned CPU build of torch first (so that no
# CUDA build is pulled in), then the project with its GUI and test extras.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench bench-quality bench-speed package clean

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
	QT_QPA_PLATFORM=offscreen REWEAVE_CACHE_DIR= $(BIN)/python -m pytest -q

bench-quality: $(STAMP)
	-$(BIN)/python -m pip install --quiet pypatchmatch
	$(BIN)/python -m bench.quality

bench-speed: $(STAMP)
	$(BIN)/python -m bench.speed

bench: bench-quality bench-speed

package: $(STAMP)
	$(BIN)/python -m pip install --quiet pyinstaller
	$(BIN)/python -m PyInstaller --noconfirm packaging/reweave.spec

clean:
	rm -rf $(VENV) build dist bench/out
