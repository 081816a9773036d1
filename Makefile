# Two entry points for a fresh Debian/Ubuntu machine (see README):
#   make demo   set everything up, then run the main job on the embedded simulation
#   make test   set everything up, then lint and run the test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Headless rendering (EGL, OSMesa fallback) and video encoding for MuJoCo.
APT_PACKAGES := libegl1 libgl1-mesa-dri libopengl0 libosmesa6
STAMP := $(VENV)/.installed

.PHONY: setup system-packages test lint demo clean

setup: system-packages $(STAMP)

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU build of torch first, so that the `train` extra does not pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[train,dev]'
	touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest -q

demo: setup
	PATH=$(abspath $(VENV))/bin:$$PATH bash scripts/demo.sh

clean:
	rm -rf $(VENV) build dist *.egg-info
