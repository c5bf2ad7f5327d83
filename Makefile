# imagechat: two commands. `make run` starts the app, `make test` runs every test.
# Both set themselves up (venv, bun, services) and are fast when that is already done.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help run dev test demo setup clean-data clean

help:
	@echo "make run         set up, start services if needed, migrate, run the app + worker (Ctrl-C stops all)"
	@echo "make dev         like make run, in Reflex dev mode (hot reload; APP_PORT + BACKEND_PORT)"
	@echo "make test        set up (incl. dev + Stable Diffusion extras, Chromium, ffmpeg), run every test"
	@echo "make demo        record a walk-through of the running app (start make run first) into docs/demo/"
	@echo "make setup       only the set-up (.venv, bun in .tools/)"
	@echo "make clean-data  stop and delete the project-local PostgreSQL/Redis under .data/"
	@echo "make clean       remove build output (.web, .states); keeps .venv, .tools and .data"

run:
	@scripts/run.sh prod

dev:
	@scripts/run.sh dev

test:
	@scripts/test.sh $(PYTEST_ARGS)

demo:
	@scripts/demo.sh $(DEMO_ARGS)

setup:
	@scripts/setup.sh requirements.txt

clean-data:
	@scripts/clean-data.sh

clean:
	rm -rf .web .states artifacts test-results
