"""A throwaway PostgreSQL cluster (and Redis server) for the tests, one per test session.

Import the fixtures into a test module (`from tests.pg_cluster import postgres_cluster`).
The cluster is created with `initdb` in a temporary directory, serves on a unix socket
only (so `--disable-socket --allow-unix-socket` needs no exception), and is stopped and
deleted at the end of the session. Tests that use it skip when the server binaries are
missing (`.ci/run` installs Debian's `postgresql` and `redis-server` packages).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from llmcompiler_bench.services import (
    POSTGRES_INSTALL_HINT,
    REDIS_INSTALL_HINT,
    ThrowawayPostgres,
    ThrowawayRedis,
    postgres_binaries,
    redis_binary,
)

_missing_client = [
    name for name in ("psycopg", "langgraph.checkpoint.postgres") if importlib.util.find_spec(name) is None
]
needs_postgres = pytest.mark.skipif(
    postgres_binaries() is None or bool(_missing_client),
    reason=f"PostgreSQL not available: {POSTGRES_INSTALL_HINT}; pip install -e '.[postgres]'",
)
needs_redis = pytest.mark.skipif(
    redis_binary() is None, reason=f"redis-server not found: {REDIS_INSTALL_HINT}"
)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL server for the session; each test creates its own databases in it."""
    if postgres_binaries() is None:
        pytest.skip(f"PostgreSQL server binaries not found: {POSTGRES_INSTALL_HINT}")
    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ThrowawayRedis]:
    """One Redis server for the session, on a unix socket."""
    if redis_binary() is None:
        pytest.skip(f"redis-server not found: {REDIS_INSTALL_HINT}")
    with ThrowawayRedis() as server:
        yield server
