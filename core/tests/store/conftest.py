"""Fixtures that run every store test on both backends: SQLite and a real PostgreSQL.

PostgreSQL tests need ``STORELINK_TEST_POSTGRES_URL`` (``scripts/services.sh`` starts a
server and sets it). Without it they are skipped, except under CI (``CI=true``),
where a missing server is a failure. Each PostgreSQL test gets its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from storelink.models import Connection, ConnectionStatus, StoreURL
from storelink.store import ConnectionStore, open_store
from storelink.vault import KeyRing, Vault

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_base_url() -> str:
    """Return the test server's URL, or skip (fail under CI) when there is none."""
    url = os.environ.get("STORELINK_TEST_POSTGRES_URL", "")
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set but STORELINK_TEST_POSTGRES_URL is not: scripts/services.sh must start PostgreSQL")
        pytest.skip("STORELINK_TEST_POSTGRES_URL is unset (scripts/services.sh starts PostgreSQL)")
    return url


def with_schema(url: str, schema: str) -> str:
    """Return *url* with its search_path set to *schema*."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
async def pg_schema() -> AsyncIterator[tuple[str, str]]:
    """Create a private schema on the test server; yield ``(url, schema)``; drop it after."""
    base = postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    async with await psycopg.AsyncConnection.connect(base, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(base, schema), schema
    finally:
        async with await psycopg.AsyncConnection.connect(base, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: ``sqlite`` or ``postgres``."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL for an empty database of the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'storelink.db'}"
    url, _schema = request.getfixturevalue("pg_schema")
    return str(url)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[ConnectionStore]:
    """A migrated, empty store of the backend under test."""
    async with open_store(store_url) as opened:
        await opened.migrate()
        yield opened


@pytest.fixture
def vault() -> Vault:
    """A vault with one fresh key, ``k1``."""
    return Vault(KeyRing.generate("k1"))


T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

ConnectionFactory = Callable[..., Connection]
Sealer = Callable[[Connection, str, str], str]


def _make_connection(n: int = 1, *, platform: str = "occ", **changes: Any) -> Connection:
    fields: dict[str, Any] = {
        "id": f"conn-{n:05d}",
        "platform": platform,
        "store_url": StoreURL(origin=f"https://store{n}.example.com"),
        "status": ConnectionStatus.ACTIVE,
        "created_at": T0 + timedelta(seconds=n),
        "updated_at": T0 + timedelta(seconds=n),
        "settings": {"site": f"site{n}"},
    }
    fields.update(changes)
    return Connection(**fields)


@pytest.fixture
def new_connection() -> ConnectionFactory:
    """``new_connection(n, platform="occ", **changes)``: connection number *n*, created *n* s after a fixed time."""
    return _make_connection


@pytest.fixture
def seal(vault: Vault) -> Sealer:
    """``seal(conn, field, text)``: *text* sealed for that record with the ``vault`` fixture."""

    def sealed(conn: Connection, field: str, text: str) -> str:
        return vault.seal(text.encode(), connection_id=conn.id, platform=conn.platform, field=field)

    return sealed
