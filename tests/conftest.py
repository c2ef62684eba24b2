"""Test configuration shared by unit and integration tests.

The backend stack is chosen per pytest process with ``DLWS_TEST_STACK`` (``sqlite+redis`` by default,
``postgres+rabbitmq`` in the second run of ``make test``), because Celery binds its broker when the app
is configured. Everything is set in the environment *before* dlws_flow is imported.
"""

from __future__ import annotations

import os
import tempfile
import uuid

import pytest

from tests.mail_server import PASSWORD as SMTP_PASSWORD
from tests.mail_server import USER as SMTP_USER
from tests.mail_server import MailServer, free_port

STACK = os.environ.get("DLWS_TEST_STACK", "sqlite+redis")
RUN_ID = uuid.uuid4().hex[:8]
DATA_DIR = tempfile.mkdtemp(prefix=f"dlws-test-{RUN_ID}-")
DB_NAME = f"dlws_test_{RUN_ID}"

os.environ["DLWS_DATA_DIR"] = DATA_DIR
os.environ["DLWS_QUEUE"] = f"dlws-test-{RUN_ID}"
os.environ["DLWS_SECRET_KEY"] = f"test-secret-{RUN_ID}"
os.environ["DLWS_TASK_MAX_RETRIES"] = "3"
# The tests' own HTTP servers and webhook receivers listen on 127.0.0.1: a site allow-list, as a deployment
# with internal sources would set it (docs/security.md). tests/integration/test_ssrf.py runs with none.
os.environ["DLWS_FETCH_ALLOW"] = "127.0.0.1"
# EMAIL notifications go to the tests' own SMTP server (tests/mail_server.py), started with the session.
SMTP_PORT = free_port()
os.environ.update(DLWS_SMTP_HOST="127.0.0.1", DLWS_SMTP_PORT=str(SMTP_PORT), DLWS_SMTP_SECURITY="starttls",
                  DLWS_SMTP_USER=SMTP_USER, DLWS_SMTP_PASSWORD=SMTP_PASSWORD,
                  DLWS_SMTP_CA_FILE=os.path.join(DATA_DIR, "smtp-cert.pem"), DLWS_SMTP_FROM="jobs@dlws.test")
MAIL_SERVER: MailServer | None = None
database, broker = STACK.split("+")
if database == "postgres":
    os.environ["DLWS_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
elif database == "sqlite":
    os.environ.pop("DLWS_DATABASE_URL", None)
else:
    raise RuntimeError(f"unknown database in DLWS_TEST_STACK={STACK}")
if broker == "redis":
    os.environ["DLWS_BROKER_URL"] = "redis://127.0.0.1:6379/7"
elif broker == "rabbitmq":
    os.environ["DLWS_BROKER_URL"] = "amqp://guest:guest@127.0.0.1:5672//"
elif broker == "embedded":
    os.environ.pop("DLWS_BROKER_URL", None)
else:
    raise RuntimeError(f"unknown broker in DLWS_TEST_STACK={STACK}")


def pytest_report_header(config):
    return f"dlws-flow test stack: {STACK} (data dir {DATA_DIR})"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in item.nodeid and database == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def mail_server() -> MailServer:
    """The SMTP server every EMAIL notification of this test session reaches."""
    assert MAIL_SERVER is not None
    return MAIL_SERVER


def pytest_sessionstart(session):
    global MAIL_SERVER
    from pathlib import Path

    MAIL_SERVER = MailServer(Path(DATA_DIR), SMTP_PORT)
    MAIL_SERVER.start()
    if database == "postgres":
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def pytest_sessionfinish(session, exitstatus):
    if MAIL_SERVER is not None:
        MAIL_SERVER.stop()
    if database == "postgres":
        import psycopg

        from dlws_flow.store import db

        for engine in list(db.engine_for.cache_info() and [db.get_engine()]):
            engine.dispose()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
