"""The connect page: where a merchant links a store to a sales channel.

A channel starts a connect session (``POST /api/connect-sessions``) naming one of its
registered redirect URIs and an opaque ``state``, and sends the merchant's browser to
the link it gets back. The merchant picks the platform, enters the store URL (shown
back normalised), follows the platform's setup guide and submits the form generated
from its credential schema. The credentials are checked at once; on success the
connection is stored and the browser returns to the channel with the connection id
and the channel's ``state``. Channels that build their own UI call
``POST /api/connections`` instead. See ``docs/connect.md``.

:func:`create_app` builds the Starlette app; :func:`serve` runs it with uvicorn, in one
process or several (``workers=N``). Over a :class:`~storelink.hub.Hub` the app keeps its
sessions and OAuth states in the connection store (:class:`StoredSessions`,
:class:`StoredAuthorizations`), so several processes and machines serve one flow;
:class:`ConnectSessions` keeps them in one process's memory.
"""

from __future__ import annotations

from storelink.connect.app import create_app
from storelink.connect.backend import ConnectHub
from storelink.connect.channels import Channel, hash_token, load_channels, redirect_location
from storelink.connect.failures import Failure
from storelink.connect.security import ConnectSessions
from storelink.connect.server import serve, serving_app
from storelink.connect.stored import StoredAuthorizations, StoredSessions

__all__ = [
    "Channel",
    "ConnectHub",
    "ConnectSessions",
    "Failure",
    "StoredAuthorizations",
    "StoredSessions",
    "create_app",
    "hash_token",
    "load_channels",
    "redirect_location",
    "serve",
    "serving_app",
]
