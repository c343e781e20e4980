# One command sets up and runs the main job; one sets up and runs the tests.
#   make run    # set up .venv/ and run the main job
#   make test   # set up .venv/ and run the test suite
SHELL := /bin/bash
# Datasets: an explicit CNNKIT_DATA wins; otherwise use ../shared/datasets when it exists.
export CNNKIT_DATA ?= $(if $(wildcard ../shared/datasets),$(abspath ../shared/datasets),)

.PHONY: setup run test lint
setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/cnnkit train lenet5 --dataset mnist

test: setup
	@bash scripts/setup-browser.sh
	.venv/bin/ruff check src tests bench
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check src tests bench
