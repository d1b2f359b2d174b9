"""Run the connect app with uvicorn, over a hub it opens itself (``storelink serve``).

With ``workers=N`` (``storelink serve --workers N``) uvicorn runs N worker processes
on one listening socket. Each worker builds its own app and hub (:func:`worker_app`)
from the options the parent passes in :data:`WORKER_ENV`, and every worker keeps its
connect sessions, OAuth states and CSRF key in the shared store and key ring, so a
merchant's requests may land on any of them. Only options that another process can
rebuild cross that boundary: a channels *file*, the database URL or path and the key
file; anything else is refused with ``workers > 1``, as is an in-memory database.
The variable lives only in the environment of the server's own processes; it holds
the database URL as given (like ``STORELINK_DB``), never a key.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from storelink.connect.app import OpenableHub, create_app
from storelink.connect.channels import Channel, load_channels
from storelink.credentials import Secret
from storelink.errors import ConfigurationError

__all__ = ["MAX_WORKERS", "WORKER_ENV", "serve", "serving_app", "worker_app"]

#: The environment variable that carries :func:`serve`'s options to its worker processes.
WORKER_ENV = "STORELINK_SERVE_WORKER"
#: Most worker processes :func:`serve` starts.
MAX_WORKERS = 64
#: The hub options a worker process can rebuild from text.
_WORKER_HUB_OPTIONS = frozenset({"database", "keys"})

log = logging.getLogger("storelink.connect")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serving_app(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    channels: Sequence[Channel] | str | Path | None = None,
    public_url: str | None = None,
    apps: Mapping[str, Mapping[str, str | Secret]] | None = None,
    require_shared: bool = False,
    **hub_options: Any,
) -> Starlette:
    """Return the app :func:`serve` runs: it opens a hub at start-up and closes it at shutdown.

    :param host: The interface it will listen on.
    :param port: The TCP port it will listen on.
    :param channels: The registered channels, or the path of a channels TOML file
        (:func:`~storelink.connect.load_channels`). With none, the local development
        channel and the start page at ``/`` are served.
    :param public_url: The public base URL; defaults to ``http://{host}:{port}``.
    :param apps: The deployment's app credentials on OAuth platforms (see
        :func:`~storelink.connect.create_app`).
    :param require_shared: Refuse to start unless sessions are shared through the
        store (a worker of ``serve(workers=N)``).
    :param hub_options: Passed to :meth:`storelink.hub.Hub.open` (``database``,
        ``keys``, ``egress``, ``registry``...).
    :raises ConfigurationError: The channels file is unreadable or invalid.
    """
    from storelink.hub import Hub

    if isinstance(channels, (str, Path)):
        channels = load_channels(channels)
    netloc = f"[{host}]" if ":" in host else host
    base = public_url or f"http://{netloc}:{port}"
    if not _is_loopback(host) and not base.startswith("https://"):
        log.warning("serving on %s over plain http: put it behind TLS and pass public_url='https://...'", host)

    async def open_hub() -> OpenableHub:
        hub: OpenableHub = await Hub.open(**hub_options)
        return hub

    return create_app(
        hub_factory=open_hub, channels=channels or (), public_url=base, apps=apps, require_shared=require_shared
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    channels: Sequence[Channel] | str | Path | None = None,
    public_url: str | None = None,
    log_level: str = "info",
    apps: Mapping[str, Mapping[str, str | Secret]] | None = None,
    workers: int = 1,
    **hub_options: Any,
) -> None:
    """Serve the connect pages and API with uvicorn until interrupted.

    :param host: Interface to listen on; loopback by default. Anything else belongs
        behind a TLS-terminating proxy, with *public_url* set to its https address.
    :param port: TCP port.
    :param channels: As :func:`serving_app`.
    :param public_url: As :func:`serving_app`.
    :param log_level: uvicorn's log level.
    :param apps: As :func:`serving_app`.
    :param workers: Worker processes on the one socket (1 to :data:`MAX_WORKERS`).
        With more than one, *channels* must be a file, *apps* must be ``None`` (give
        each channel's apps in the channels file), *hub_options* may hold only
        ``database`` and ``keys`` as paths or URLs, and the database must be one that
        other processes can open (a file or PostgreSQL, not ``:memory:``).
    :param hub_options: Passed to :meth:`storelink.hub.Hub.open`.
    :raises ConfigurationError: The channels file is unreadable or invalid; *workers*
        is out of range, or given with an option a worker process cannot rebuild.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigurationError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
    if workers == 1:
        app = serving_app(host, port, channels=channels, public_url=public_url, apps=apps, **hub_options)
        uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
        return
    options = _worker_options(host, port, channels=channels, public_url=public_url, apps=apps, hub_options=hub_options)
    # Open the hub once here: the database is migrated and the key file created before
    # the workers start, and a bad database or key ring fails now, with one message.
    asyncio.run(_check_shared(hub_options))
    os.environ[WORKER_ENV] = json.dumps(options)
    try:
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            server_header=False,
        )
    finally:
        os.environ.pop(WORKER_ENV, None)


def _worker_options(
    host: str,
    port: int,
    *,
    channels: Sequence[Channel] | str | Path | None,
    public_url: str | None,
    apps: Mapping[str, Mapping[str, str | Secret]] | None,
    hub_options: Mapping[str, Any],
) -> dict[str, Any]:
    """Return what a worker process needs to build the app, as JSON values.

    :raises ConfigurationError: An option is one a worker process cannot rebuild.
    """
    if channels is not None and not isinstance(channels, (str, Path)):
        raise ConfigurationError("with several workers, give the channels as the path of a channels file")
    if channels is not None:
        load_channels(channels)  # every worker reads it again: refuse a bad file once, here
    if apps:
        raise ConfigurationError(
            "with several workers, configure the OAuth app credentials in the channels file ([apps.PLATFORM])"
        )
    extra = sorted(set(hub_options) - _WORKER_HUB_OPTIONS)
    if extra:
        raise ConfigurationError(f"with several workers, the hub options {', '.join(extra)} cannot be passed on")
    texts: dict[str, str | None] = {}
    for name in sorted(_WORKER_HUB_OPTIONS):
        value = hub_options.get(name)
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ConfigurationError(
                f"with several workers, {name} must be a path or URL, not a {type(value).__name__}"
            )
        texts[name] = None if value is None else os.fspath(value)
    return {
        "host": host,
        "port": port,
        "channels": None if channels is None else os.fspath(channels),
        "public_url": public_url,
        **texts,
    }


async def _check_shared(hub_options: Mapping[str, Any]) -> None:
    """Open the hub once; refuse a database that another process cannot open.

    :raises ConfigurationError: The database is an in-memory one, or is unusable.
    """
    from storelink.hub import Hub
    from storelink.store import SQLiteStore

    async with await Hub.open(**hub_options) as hub:
        if isinstance(hub.store, SQLiteStore) and hub.store.path is None:
            raise ConfigurationError(
                "with several workers, the database must be a file or PostgreSQL: an in-memory database "
                "is private to one process, so the workers would not share their connect sessions"
            )


def worker_app() -> Starlette:
    """Build the app of one worker process of ``serve(workers=N)``, from the options in :data:`WORKER_ENV`.

    :raises ConfigurationError: The variable is missing or malformed (this is not a
        worker started by :func:`serve`).
    """
    try:
        options = json.loads(os.environ[WORKER_ENV])
    except (KeyError, ValueError):
        raise ConfigurationError(
            f"{WORKER_ENV} is unset or malformed: start workers with storelink serve --workers"
        ) from None
    hub_options = {name: options[name] for name in sorted(_WORKER_HUB_OPTIONS) if options.get(name) is not None}
    return serving_app(
        options["host"],
        options["port"],
        channels=options["channels"],
        public_url=options["public_url"],
        require_shared=True,
        **hub_options,
    )
