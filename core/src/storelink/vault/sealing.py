"""A connection's secrets sealed into envelopes, and opened back into credentials.

Each secret is sealed for its record: the connection id, the connection's platform
and the vault field (a credential field's name, or a shared token's field), so an
envelope copied to another connection, platform or field fails to open (see
:mod:`storelink.vault.envelope` for the format and the associated data). This is the
one place the core reveals a connection's secret to encrypt it.

Non-secret credential fields are not sealed: :func:`seal_credentials` returns them
apart, to be stored as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from storelink.credentials import Credentials, Secret
from storelink.vault.envelope import Vault

__all__ = ["open_credentials", "open_secret", "seal_credentials", "seal_secret"]


def seal_secret(vault: Vault, value: Secret, *, connection_id: str, platform: str, field: str) -> str:
    """Seal *value* for the vault field *field* of one connection; return the envelope.

    :param connection_id: The connection the secret belongs to.
    :param platform: That connection's platform slug.
    :param field: The credential field's name, or a shared token's field.
    """
    return vault.seal(value.reveal().encode(), connection_id=connection_id, platform=platform, field=field)


def open_secret(vault: Vault, envelope: str, *, connection_id: str, platform: str, field: str) -> Secret:
    """Open an envelope :func:`seal_secret` made for this very record.

    :raises UnknownKeyError: The envelope names a key the ring does not hold.
    :raises VaultError: It is malformed, was altered, or was sealed for another record.
    """
    return Secret(vault.open(envelope, connection_id=connection_id, platform=platform, field=field).decode())


def seal_credentials(
    vault: Vault, credentials: Credentials, *, connection_id: str, platform: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Seal the secret fields of *credentials* for one connection.

    :return: The envelopes of the secret fields and the non-secret values, each by
        field name (what :meth:`ConnectionStore.insert_connection
        <storelink.store.ConnectionStore.insert_connection>` stores).
    """
    envelopes: dict[str, str] = {}
    plain: dict[str, str] = {}
    for name, value in credentials.items():
        if isinstance(value, Secret):
            envelopes[name] = seal_secret(vault, value, connection_id=connection_id, platform=platform, field=name)
        else:
            plain[name] = value
    return envelopes, plain


def open_credentials(
    vault: Vault,
    envelopes: Mapping[str, str],
    plain: Mapping[str, str],
    *,
    connection_id: str,
    platform: str,
) -> Credentials:
    """Return the credentials :func:`seal_credentials` sealed: the envelopes opened, the rest as stored.

    :raises UnknownKeyError: An envelope names a key the ring does not hold.
    :raises VaultError: An envelope is malformed, was altered, or belongs to another record.
    """
    values: dict[str, str | Secret] = dict(plain)
    for name, envelope in envelopes.items():
        values[name] = open_secret(vault, envelope, connection_id=connection_id, platform=platform, field=name)
    return Credentials(values)
