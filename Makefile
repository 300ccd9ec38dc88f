# The two commands of the README. Both install what they need first (scripts/setup.sh; root for apt).
.PHONY: run test setup lint bench clean

run: setup
	scripts/run-demo

test: setup
	scripts/run-tests

setup:
	scripts/setup.sh

lint: setup
	.venv/bin/ruff check cardservice simulators drivers tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports --no-cache

bench: setup
	scripts/pcscd-ctl start
	.venv/bin/python -m bench; rc=$$?; scripts/pcscd-ctl stop; exit $$rc

clean:
	rm -rf .run .venv .pytest_cache .mypy_cache .ruff_cache
