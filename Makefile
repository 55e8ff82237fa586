.PHONY: run test bench services stop lint bootstrap

run: bootstrap       ## set up and run the platform (web, worker, beat, local PostgreSQL + Redis)
	.venv/bin/python scripts/stack.py run

test:                ## set up and run lint + the whole test suite
	scripts/test.sh

bench:               ## every benchmark in bench/ (quick forms, < 10 min), then the generated block of docs/benchmarks.md
	scripts/bench.sh

bootstrap:
	scripts/bootstrap.sh

services: bootstrap  ## start only the local PostgreSQL and Redis
	.venv/bin/python scripts/stack.py up

stop:                ## stop the local PostgreSQL and Redis
	.venv/bin/python scripts/stack.py down

lint: bootstrap       ## ruff, then the import contracts in pyproject.toml (docs/architecture.md)
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache
