"""Run the connect app with uvicorn, over a hub it opens itself (``storelink serve``)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from storelink.connect.app import OpenableHub, create_app
from storelink.connect.channels import Channel, load_channels

__all__ = ["serve", "serving_app"]

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
    **hub_options: Any,
) -> Starlette:
    """Return the app :func:`serve` runs: it opens a hub at start-up and closes it at shutdown.

    :param host: The interface it will listen on.
    :param port: The TCP port it will listen on.
    :param channels: The registered channels, or the path of a channels TOML file
        (:func:`~storelink.connect.load_channels`). With none, the local development
        channel and the start page at ``/`` are served.
    :param public_url: The public base URL; defaults to ``http://{host}:{port}``.
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

    return create_app(hub_factory=open_hub, channels=channels or (), public_url=base)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    channels: Sequence[Channel] | str | Path | None = None,
    public_url: str | None = None,
    log_level: str = "info",
    **hub_options: Any,
) -> None:
    """Serve the connect pages and API with uvicorn until interrupted.

    :param host: Interface to listen on; loopback by default. Anything else belongs
        behind a TLS-terminating proxy, with *public_url* set to its https address.
    :param port: TCP port.
    :param channels: As :func:`serving_app`.
    :param public_url: As :func:`serving_app`.
    :param log_level: uvicorn's log level.
    :param hub_options: Passed to :meth:`storelink.hub.Hub.open`.
    :raises ConfigurationError: The channels file is unreadable or invalid.
    """
    app = serving_app(host, port, channels=channels, public_url=public_url, **hub_options)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
