"""Connect sessions and OAuth authorizations kept in the connection store, for many processes.

:class:`StoredSessions` and :class:`StoredAuthorizations` are the registries the connect
app uses when it runs over a hub (``storelink serve`` always does): every process and
machine on the same store (one SQLite file, or one PostgreSQL database) serves the same
flow, so the connect page runs behind a load balancer, with ``storelink serve
--workers N``, or on several machines. They keep the guarantees of the in-memory
registries, checked in the store instead of in one process:

- **tickets** are kept as their sha256 only; opening a link is a conditional update
  (the ticket hash must still be there), so of two processes opening the same link at
  once exactly one succeeds;
- the **browser binding** is the sha256 of the cookie, compared with
  :func:`hmac.compare_digest` on every step;
- **expiry** is checked on every access, and expired sessions and states are erased
  whenever a session is created (one transaction that also enforces the channel's
  limit of live sessions, serialised per channel);
- **checking the credentials** runs once per session across processes: the process
  that takes the session's attempt lease runs the check; a second post landing on
  another process waits for its outcome (the connection made, or the lease released
  after a failure, when it runs its own check);
- an OAuth **state** is kept only as its sha256, spent by a conditional update, and its
  **PKCE verifier** is sealed by the vault, bound to the state's hash, the platform and
  the field, so a verifier moved to another row fails to open;
- the **credentials an approval flow's platform POSTs** are sealed the same way, at
  once, into the state's row (a conditional update: one delivery per state, only while
  it is unused and unexpired), and opened only when the browser that began the
  authorization collects them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from storelink.connect.channels import Channel
from storelink.connect.security import (
    SESSION_LIMIT,
    SESSION_TTL,
    Attempt,
    ConnectSession,
    SessionError,
    Work,
    digest,
)
from storelink.credentials import Credentials, Secret
from storelink.errors import VaultError
from storelink.models import Connection, StoreURL
from storelink.onboarding import (
    STATE_LIMIT,
    STATE_TTL,
    PendingAuthorization,
    check_claim,
    check_delivery,
    prepare_authorization,
    state_error,
    state_hash,
)
from storelink.plugins import Platform
from storelink.store import ConnectionStore, StoredAuthorization, StoredConnectSession
from storelink.vault import Vault, open_secret, seal_secret

__all__ = ["ATTEMPT_LEASE", "StoredAuthorizations", "StoredSessions", "verifier_record"]

log = logging.getLogger("storelink.connect")

#: Seconds a process holds a session's attempt lease: longer than a check takes (the
#: app bounds it to 15 s by default, twice for OAuth), short enough that a process
#: that died mid-check delays a retry only briefly.
ATTEMPT_LEASE = 45.0
#: Seconds between two looks at a session another process is checking.
_POLL = 0.2
_CODE_VERIFIER = "code_verifier"
_CREDENTIALS = "credentials"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def verifier_record(hashed_state: str) -> str:
    """Return the vault record a PKCE verifier is sealed for: its authorization's state hash."""
    return f"oauth-state/{hashed_state}"


class StoredSessions:
    """The connect sessions of every process on one connection store.

    :param store: The connection store (migrated).
    :param channels: The channels this process serves, by id: a session of a channel
        this process does not know is refused as unknown.
    :param ttl: Seconds a session lives.
    :param clock: Wall clock (``time.time``); tests pass a fake. Machines must agree on
        the time within seconds.
    :param limit: Most live sessions one channel may have at once.
    :param lease: Seconds a process holds a session's attempt lease.
    """

    #: Every process on the store sees these sessions.
    shared = True

    def __init__(
        self,
        store: ConnectionStore,
        *,
        channels: Mapping[str, Channel],
        ttl: float = SESSION_TTL,
        clock: Callable[[], float] = time.time,
        limit: int = SESSION_LIMIT,
        lease: float = ATTEMPT_LEASE,
    ) -> None:
        if lease <= 0:
            raise ValueError(f"lease must be positive, got {lease}")
        self.store = store
        self.channels = dict(channels)
        self.ttl = ttl
        self.clock = clock
        self.limit = limit
        self.lease = lease
        self.owner = _owner()
        self._attempts: dict[str, asyncio.Task[Attempt]] = {}

    def __repr__(self) -> str:
        return f"StoredSessions(store={self.store!r}, channels={sorted(self.channels)!r})"

    async def create(
        self,
        *,
        channel: Channel,
        redirect_uri: str,
        state: str,
        platforms: Iterable[str],
        platform: str | None = None,
    ) -> tuple[ConnectSession, str]:
        """Start a session in the store and return it with its one-time ticket.

        :raises SessionError: ``busy``: the channel has *limit* live sessions.
        """
        now = self.clock()
        ticket = secrets.token_urlsafe(32)
        row = StoredConnectSession(
            id=secrets.token_urlsafe(16),
            channel_id=channel.id,
            redirect_uri=redirect_uri,
            state=state,
            platforms=tuple(platforms),
            platform=platform,
            ticket_hash=digest(ticket),
            created_at=_moment(now),
            expires_at=_moment(now + self.ttl),
        )
        if not await self.store.create_connect_session(row, limit=self.limit, now=_moment(now)):
            raise SessionError("busy")
        return self._session(row, channel), ticket

    async def open(self, session_id: str, ticket: str | None, browser: str) -> ConnectSession:
        """Spend the link's *ticket* (once, across every process) and bind the session to *browser*.

        :raises SessionError: The ticket is missing or wrong, already used, or the
            session expired or is spent.
        """
        if not ticket:
            raise SessionError("missing")
        row, channel = await self._live(session_id)
        if row.ticket_hash is None:
            raise SessionError("used")
        if not hmac.compare_digest(row.ticket_hash, digest(ticket)):
            raise SessionError("unknown")
        browser_hash = digest(browser)
        opened = await self.store.open_connect_session(
            session_id, ticket_hash=row.ticket_hash, browser_hash=browser_hash, now=_moment(self.clock())
        )
        if not opened:  # another process opened it, or it expired, in between
            raise SessionError("used")
        session = self._session(row, channel)
        session.ticket_hash = None
        session.browser_hash = browser_hash
        return session

    async def get(self, session_id: str, browser: str | None) -> ConnectSession:
        """Return the session for a later step, checking it belongs to *browser*.

        :raises SessionError: Unknown, expired, spent, not opened yet, or bound to
            another browser.
        """
        row, channel = await self._live(session_id)
        if row.browser_hash is None:
            raise SessionError("missing")
        if not browser or not hmac.compare_digest(row.browser_hash, digest(browser)):
            raise SessionError("other_browser")
        return self._session(row, channel)

    async def save(self, session: ConnectSession) -> None:
        """Store the platform and store URL the step chose.

        :raises SessionError: The session expired or was spent meanwhile.
        """
        if session.browser_hash is None:
            raise SessionError("missing")
        saved = await self.store.update_connect_session(
            session.id,
            platform=session.platform,
            store_url=session.store_url.url if session.store_url is not None else None,
            browser_hash=session.browser_hash,
            now=_moment(self.clock()),
        )
        if not saved:
            await self._live(session.id)
            raise SessionError("other_browser")

    async def attempt(self, session: ConnectSession, work: Work) -> Attempt:
        """Run *work* once for the session across every process, and spend it if it made a connection.

        :raises SessionError: The session expired or is gone, or another process held
            its check for longer than the lease.
        """
        task = self._attempts.get(session.id)
        if task is None:
            task = asyncio.create_task(self._run(session, work))
            self._attempts[session.id] = task
            task.add_done_callback(lambda _done: self._attempts.pop(session.id, None))
        return await asyncio.shield(task)

    async def _run(self, session: ConnectSession, work: Work) -> Attempt:
        # Bounded: a holder that died lets the lease end, then this process takes it over.
        for _ in range(int(self.lease / _POLL) + 2):
            now = self.clock()
            row = await self.store.claim_connect_attempt(
                session.id, owner=self.owner, now=_moment(now), lease=self.lease
            )
            if row is None:
                raise SessionError("unknown")
            if row.connection_id is not None:  # another process's check connected the store
                return row.connection_id
            if now >= row.expires_at.timestamp():
                raise SessionError("expired")
            if row.attempt_owner == self.owner:
                break
            await asyncio.sleep(_POLL)
        else:
            raise SessionError("busy")
        try:
            result = await work()
        except BaseException:
            await asyncio.shield(self.store.release_connect_attempt(session.id, owner=self.owner))
            raise
        if isinstance(result, Connection):
            await self.store.complete_connect_session(session.id, connection_id=result.id, now=_moment(self.clock()))
            session.completed = True
            return result.id
        await self.store.release_connect_attempt(session.id, owner=self.owner)
        return result

    async def _live(self, session_id: str) -> tuple[StoredConnectSession, Channel]:
        row = await self.store.get_connect_session(session_id)
        channel = None if row is None else self.channels.get(row.channel_id)
        if row is None or channel is None:
            raise SessionError("unknown")
        if self.clock() >= row.expires_at.timestamp():
            raise SessionError("expired")
        if row.completed_at is not None:
            raise SessionError("used")
        return row, channel

    @staticmethod
    def _session(row: StoredConnectSession, channel: Channel) -> ConnectSession:
        return ConnectSession(
            id=row.id,
            channel=channel,
            redirect_uri=row.redirect_uri,
            state=row.state,
            platforms=row.platforms,
            created_at=row.created_at.timestamp(),
            expires_at=row.expires_at.timestamp(),
            ticket_hash=row.ticket_hash,
            browser_hash=row.browser_hash,
            platform=row.platform,
            store_url=StoreURL.parse(row.store_url) if row.store_url is not None else None,
            completed=row.completed_at is not None,
        )


class StoredAuthorizations:
    """The OAuth authorizations under way of every process on one connection store.

    :param store: The connection store (migrated).
    :param vault: Seals each PKCE verifier for its row.
    :param ttl: Seconds a state lives.
    :param clock: Wall clock (``time.time``); tests pass a fake.
    :param limit: Most live states at once.
    """

    #: Every process on the store sees these authorizations.
    shared = True

    def __init__(
        self,
        store: ConnectionStore,
        vault: Vault,
        *,
        ttl: float = STATE_TTL,
        clock: Callable[[], float] = time.time,
        limit: int = STATE_LIMIT,
    ) -> None:
        self.store = store
        self.vault = vault
        self.ttl = ttl
        self.clock = clock
        self.limit = limit

    def __repr__(self) -> str:
        return f"StoredAuthorizations(store={self.store!r})"

    async def begin(
        self,
        platform: Platform,
        store_url: StoreURL,
        *,
        client_id: str,
        redirect_uri: str,
        browser: str | None,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> PendingAuthorization:
        """Start an authorization and keep it in the store (the state as its hash, the verifier sealed).

        A new authorization of the same *owner* replaces its earlier ones.

        :raises PluginError: The platform declares no OAuth flow, or its URL is unusable.
        :raises CallbackError: ``busy``: *limit* authorizations are under way.
        """
        now = self.clock()
        hashed, pending = prepare_authorization(
            platform,
            store_url,
            client_id=client_id,
            redirect_uri=redirect_uri,
            browser=browser,
            owner=owner,
            expires_at=now + self.ttl,
            callback_url=callback_url,
        )
        sealed = None
        if pending.code_verifier is not None:
            sealed = seal_secret(
                self.vault,
                pending.code_verifier,
                connection_id=verifier_record(hashed),
                platform=platform.slug,
                field=_CODE_VERIFIER,
            )
        row = StoredAuthorization(
            state_hash=hashed,
            platform=platform.slug,
            store_url=store_url.url,
            redirect_uri=redirect_uri,
            authorization_origin=pending.authorization_origin,
            code_verifier=sealed,
            owner=owner,
            browser_hash=pending.browser_hash,
            expires_at=_moment(pending.expires_at),
        )
        if not await self.store.begin_authorization(row, limit=self.limit, now=_moment(now)):
            raise state_error("busy")
        return pending

    async def claim(self, state: str | None, browser: str | None) -> PendingAuthorization:
        """Spend *state* (once, across every process) and return its authorization.

        :raises CallbackError: ``state_missing``, ``state_unknown``, ``state_expired``,
            ``state_used`` or ``other_browser``.
        """
        hashed = state_hash(state) if state else None
        row = await self.store.get_authorization(hashed) if hashed is not None else None
        pending = check_claim(state, None if row is None else self._pending(row), browser, self.clock())
        if row is None or hashed is None:
            raise AssertionError("check_claim accepted a missing state")
        if not await self.store.claim_authorization(hashed, now=_moment(self.clock())):
            # Another process claimed it, or it expired, between the read and the update.
            again = await self.store.get_authorization(hashed)
            check_claim(state, None if again is None else self._pending(again), browser, self.clock())
            raise state_error("state_used")
        pending.used = True
        if row.code_verifier is not None:
            pending.code_verifier = self._open(row, row.code_verifier)
        return pending

    async def deliver(self, platform: str, state: str, credentials: Credentials) -> None:
        """Seal the *credentials* an approval flow's platform POSTed into *state*'s row, once.

        :raises CallbackError: ``state_unknown``, ``state_expired`` or ``state_used``
            (spent, or delivered already).
        """
        hashed = state_hash(state)
        row = await self.store.get_authorization(hashed)
        found = None if row is None else self._pending(row)
        if found is not None and row is not None and row.credentials is not None:
            found.credentials = Credentials({})
        check_delivery(platform, found, self.clock())
        values = {name: value.reveal() if isinstance(value, Secret) else value for name, value in credentials.items()}
        sealed = seal_secret(
            self.vault,
            Secret(json.dumps(values)),
            connection_id=verifier_record(hashed),
            platform=platform,
            field=_CREDENTIALS,
        )
        if not await self.store.deliver_authorization(hashed, credentials=sealed, now=_moment(self.clock())):
            raise state_error("state_used")  # another delivery, the collection or the expiry came first

    async def collect(self, state: str | None, browser: str | None) -> PendingAuthorization | None:
        """Spend *state* (once, across every process) when its credentials arrived, and open them.

        :return: ``None`` while the platform has not POSTed them yet (nothing spent).
        :raises CallbackError: As :meth:`claim`.
        """
        hashed = state_hash(state) if state else None
        row = await self.store.get_authorization(hashed) if hashed is not None else None
        pending = check_claim(state, None if row is None else self._pending(row), browser, self.clock())
        if row is None or hashed is None:
            raise AssertionError("check_claim accepted a missing state")
        if row.credentials is None:
            return None
        if not await self.store.claim_authorization(hashed, now=_moment(self.clock())):
            raise state_error("state_used")
        pending.used = True
        try:
            opened = open_secret(
                self.vault,
                row.credentials,
                connection_id=verifier_record(hashed),
                platform=row.platform,
                field=_CREDENTIALS,
            )
        except VaultError as exc:
            log.warning("an approval's credentials did not open (%s); refusing them", type(exc).__name__)
            raise state_error("state_unknown") from None
        pending.credentials = Credentials(
            {name: Secret(str(value)) for name, value in json.loads(opened.reveal()).items()}
        )
        return pending

    def _open(self, row: StoredAuthorization, envelope: str) -> Secret:
        try:
            return open_secret(
                self.vault,
                envelope,
                connection_id=verifier_record(row.state_hash),
                platform=row.platform,
                field=_CODE_VERIFIER,
            )
        except VaultError as exc:
            log.warning("an OAuth state's PKCE verifier did not open (%s); refusing its callback", type(exc).__name__)
            raise state_error("state_unknown") from None

    @staticmethod
    def _pending(row: StoredAuthorization) -> PendingAuthorization:
        return PendingAuthorization(
            platform=row.platform,
            store_url=StoreURL.parse(row.store_url),
            redirect_uri=row.redirect_uri,
            authorization_url="",
            authorization_origin=row.authorization_origin,
            expires_at=row.expires_at.timestamp(),
            owner=row.owner,
            browser_hash=row.browser_hash,
            used=row.used_at is not None,
        )
