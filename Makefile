# `make test` is the whole suite: it installs the test dependencies, brings up the real test hosts
# (sshd, Slurm, Apptainer; scripts/testhosts) and the local database/brokers, runs every test on
# SQLite + Redis against the deployment exactly as `dlws-flow up` starts it (thread-pool worker), and the
# integration tests again on PostgreSQL + RabbitMQ against the deployment as the systemd units start it
# (prefork worker, separate beat; with the chaos test, which restarts the broker and the hosts' daemons);
# each pass runs the soak test once. Then it stops the hosts.
PYTHON ?= python3
TESTHOSTS ?= /tmp/dlws-test-hosts
PYTEST_ARGS ?= --durations=15

.PHONY: test unit hosts-up hosts-down demo bench

test:
	$(PYTHON) -m pip install -q -e '.[test]'
	$(PYTHON) -c "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports']; lint_imports_command()"
	bash scripts/services-up.sh
	bash scripts/browser-up.sh
	bash scripts/testhosts/up.sh $(TESTHOSTS)
	status=0; \
	DLWS_TEST_STACK=sqlite+redis DLWS_TEST_DEPLOYMENT=up $(PYTHON) -m pytest -q -p no:cacheprovider tests -m "not chaos" $(PYTEST_ARGS) || status=1; \
	DLWS_TEST_STACK=postgres+rabbitmq DLWS_TEST_DEPLOYMENT=units $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration -m "not flower and not once" $(PYTEST_ARGS) || status=1; \
	bash scripts/testhosts/down.sh $(TESTHOSTS); \
	exit $$status

unit:
	$(PYTHON) -m pytest -q tests --ignore=tests/integration

hosts-up:
	bash scripts/testhosts/up.sh $(TESTHOSTS)

hosts-down:
	bash scripts/testhosts/down.sh $(TESTHOSTS)

demo:
	dlws-flow demo

# P1-P4 against their in-run baselines (docs/operations.md, "Benchmarks"); `make bench BENCH_ARGS=--quick`.
bench:
	$(PYTHON) -m bench $(BENCH_ARGS)
