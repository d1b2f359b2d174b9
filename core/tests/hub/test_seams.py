"""The hub's seams: the session's protocol, sealing in the vault, key onboarding in its own module."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from storelink import ConfigurationError, CredentialField, CredentialSchema, CredentialsError, Secret
from storelink.credentials import Credentials
from storelink.hub import Hub
from storelink.keyonboarding import check_settings
from storelink.models import Capability, PlatformInfo
from storelink.sessionhost import SessionHost
from storelink.vault import KeyRing, Vault, open_credentials, open_secret, seal_credentials, seal_secret

SRC = Path(__file__).resolve().parents[2] / "src" / "storelink"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("module", ["session.py", "sessionhost.py", "events.py", "keyonboarding.py"])
def test_the_session_side_never_imports_the_hub(module: str) -> None:
    assert "storelink.hub" not in _imports(SRC / module)


def test_the_hub_has_every_member_of_the_session_protocol() -> None:
    members = {name for name in vars(SessionHost) if not name.startswith("_")}
    assert members == {"paging", "clock", "ledger", "events", "stats", "get", "cached", "platform", "context"}
    hub_source = inspect.getsource(Hub)
    for name in members:
        assert hasattr(Hub, name) or f"self.{name} =" in hub_source, name


def test_the_session_calls_on_its_hub_only_what_the_protocol_declares() -> None:
    tree = ast.parse((SRC / "session.py").read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_hub"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "self"
    }
    declared = {name for name in vars(SessionHost) if not name.startswith("_")}
    assert used <= declared
    assert {"get", "context", "ledger", "events"} <= used


# --------------------------------------------------------------------------- sealing


RECORD = {"connection_id": "c-42", "platform": "fake"}


def _vault() -> Vault:
    return Vault(KeyRing.generate())


def test_sealed_credentials_open_back_and_keep_plain_fields_apart() -> None:
    vault = _vault()
    creds = Credentials({"site": "eu", "api_key": Secret("k-123"), "secret": Secret("s-456")})
    envelopes, plain = seal_credentials(vault, creds, **RECORD)
    assert plain == {"site": "eu"}
    assert set(envelopes) == {"api_key", "secret"}
    assert all("k-123" not in e and "s-456" not in e for e in envelopes.values())
    opened = open_credentials(vault, envelopes, plain, **RECORD)
    assert opened["site"] == "eu"
    assert opened.secret("api_key").reveal() == "k-123"
    assert opened.secret("secret").reveal() == "s-456"


def test_a_sealed_secret_is_a_plain_vault_envelope_bound_to_its_field() -> None:
    """The stored format is the vault's own: ``Vault.open`` with the same record reads it."""
    vault = _vault()
    envelope = seal_secret(vault, Secret("k-123"), field="api_key", **RECORD)
    assert vault.open(envelope, field="api_key", **RECORD) == b"k-123"
    assert open_secret(vault, vault.seal(b"t", field="x", **RECORD), field="x", **RECORD).reveal() == "t"
    envelopes, _ = seal_credentials(vault, Credentials({"api_key": Secret("k-123")}), **RECORD)
    with pytest.raises(Exception, match="could not be decrypted"):
        open_credentials(vault, {"other": envelopes["api_key"]}, {}, **RECORD)
    with pytest.raises(Exception, match="could not be decrypted"):
        open_credentials(vault, envelopes, {}, connection_id="c-43", platform="fake")


# --------------------------------------------------------------------------- settings


def _info(required: bool = False) -> PlatformInfo:
    def digits(value: str) -> None:
        if not value.isdigit():
            raise CredentialsError("Page size must be a number", field="page_size")

    fields = (CredentialField(name="page_size", label="Page size", required=required, validator=digits),)
    return PlatformInfo(
        slug="shop",
        title="Shop",
        credential_schema=CredentialSchema(fields=()),
        capabilities={Capability.PRODUCTS},
        settings_schema=CredentialSchema(fields=fields),
    )


def test_check_settings_names_the_setting() -> None:
    assert check_settings(_info(), {"page_size": " 20 "}) == {"page_size": "20"}
    with pytest.raises(ConfigurationError, match="unknown setting 'zone'"):
        check_settings(_info(), {"zone": "1"})
    with pytest.raises(ConfigurationError, match="setting 'page_size': Page size must be a number"):
        check_settings(_info(), {"page_size": "lots"})
    with pytest.raises(ConfigurationError, match="setting 'page_size': Page size is required"):
        check_settings(_info(required=True), {})
