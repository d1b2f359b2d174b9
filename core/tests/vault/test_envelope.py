"""The vault's envelopes: round trip, record binding, tamper evidence, nonces, format stability."""

from __future__ import annotations

import base64
import json
import pickle
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storelink.errors import UnknownKeyError, VaultError
from storelink.vault import KeyRing, Vault, key_id
from storelink.vault.envelope import stored_key_id

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "golden_envelope.json").read_text())
RECORD = {"connection_id": "conn-1", "platform": "occ", "field": "application_key"}
CANARY = b"eyJhbGciOiJub25lIn0.CANARY-application-key-7f3a9c.sig"


@pytest.fixture(scope="module")
def vault() -> Vault:
    return Vault(KeyRing.generate("k1"))


def raw(envelope: str) -> bytes:
    return base64.urlsafe_b64decode(envelope + "=" * (-len(envelope) % 4))


def text(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plaintext=st.binary(max_size=8192), connection_id=ids, platform=ids, field=ids)
def test_open_returns_what_seal_was_given(
    vault: Vault, plaintext: bytes, connection_id: str, platform: str, field: str
) -> None:
    record = {"connection_id": connection_id, "platform": platform, "field": field}
    envelope = vault.seal(plaintext, **record)
    assert vault.open(envelope, **record) == plaintext
    assert key_id(envelope) == "k1"


def test_the_empty_value_round_trips(vault: Vault) -> None:
    assert vault.open(vault.seal(b"", **RECORD), **RECORD) == b""


def test_an_envelope_moved_to_another_record_fails(vault: Vault) -> None:
    """500 random pairs of records differing in connection, platform or field: all 500 refused."""
    rng = random.Random(5)
    refused = opened = 0
    for _ in range(500):
        a = {
            "connection_id": f"conn-{rng.randrange(50)}",
            "platform": rng.choice(["occ", "shopx", "magento"]),
            "field": rng.choice(["application_key", "client_secret", "password"]),
        }
        b = dict(a)
        while b == a:
            name = rng.choice(list(a))
            b[name] = rng.choice([f"conn-{rng.randrange(50)}", "occ", "shopx", "password", a[name] + "x"])
        envelope = vault.seal(CANARY, **a)
        try:
            vault.open(envelope, **b)
        except UnknownKeyError:
            pytest.fail("a moved envelope must fail as tampered, not as an unknown key")
        except VaultError:
            refused += 1
        else:
            opened += 1
    assert (refused, opened) == (500, 0)


def test_record_fields_cannot_be_shifted_into_each_other(vault: Vault) -> None:
    envelope = vault.seal(CANARY, connection_id="ab", platform="c", field="f")
    with pytest.raises(VaultError):
        vault.open(envelope, connection_id="a", platform="bc", field="f")
    with pytest.raises(VaultError):
        vault.open(envelope, connection_id="ab", platform="", field="cf")


def test_every_single_bit_flip_is_rejected(vault: Vault) -> None:
    """Each bit of the envelope (header, key id, nonce, ciphertext, tag), flipped alone, is caught."""
    envelope = vault.seal(CANARY, **RECORD)
    data = raw(envelope)
    flips = accepted = 0
    for i in range(len(data) * 8):
        tampered = bytearray(data)
        tampered[i // 8] ^= 1 << (i % 8)
        flips += 1
        try:
            vault.open(text(bytes(tampered)), **RECORD)
        except VaultError:
            continue
        accepted += 1
    assert flips == 8 * (2 + 1 + 2 + 12 + len(CANARY) + 16)
    assert accepted == 0


def test_every_single_bit_flip_of_the_text_is_rejected(vault: Vault) -> None:
    """Flips of the base64 text too: non-alphabet characters and non-canonical trailing bits."""
    envelope = vault.seal(CANARY, **RECORD)
    accepted = 0
    for i in range(len(envelope) * 8):
        chars = bytearray(envelope.encode())
        chars[i // 8] ^= 1 << (i % 8)
        try:
            vault.open(chars.decode("latin-1"), **RECORD)
        except VaultError:
            continue
        accepted += 1
    assert accepted == 0


def test_truncated_and_extended_envelopes_are_rejected(vault: Vault) -> None:
    data = raw(vault.seal(CANARY, **RECORD))
    for cut in range(len(data)):
        with pytest.raises(VaultError):
            vault.open(text(data[:cut]), **RECORD)
    with pytest.raises(VaultError):
        vault.open(text(data + b"\x00"), **RECORD)
    for garbage in ("", "not base64!", "ZTE", "\u00e9t\u00e9"):
        with pytest.raises(VaultError, match="not a storelink envelope"):
            vault.open(garbage, **RECORD)


def test_nonces_never_repeat() -> None:
    """100,000 seals of one value under one key: 0 repeated nonces, 0 identical envelopes."""
    vault = Vault(KeyRing.generate("k1"))
    header = len(b"e1") + 1 + len(b"k1")
    envelopes = [vault.seal(b"the same value", **RECORD) for _ in range(100_000)]
    nonces = {raw(e)[header : header + 12] for e in envelopes}
    assert len(nonces) == 100_000
    assert len(set(envelopes)) == 100_000


def test_the_golden_envelope_still_opens() -> None:
    """An envelope sealed once with a fixed fake key and committed: the format has not drifted."""
    vault = Vault(KeyRing.parse(GOLDEN["keys"]))
    record = {k: GOLDEN[k] for k in ("connection_id", "platform", "field")}

    assert key_id(GOLDEN["envelope"]) == "golden"
    assert vault.open(GOLDEN["envelope"], **record) == GOLDEN["plaintext"].encode()
    fresh = raw(vault.seal(GOLDEN["plaintext"].encode(), **record))
    assert fresh[:9] == b"e1\x06golden"
    assert len(fresh) == len(raw(GOLDEN["envelope"]))


def test_an_unknown_key_is_told_apart_from_tampering(vault: Vault) -> None:
    other = Vault(KeyRing.generate("k0"))
    with pytest.raises(UnknownKeyError) as caught:
        vault.open(other.seal(CANARY, **RECORD), **RECORD)
    assert caught.value.key_id == "k0"
    assert "k0" in str(caught.value)

    impostor = Vault(KeyRing.generate("k1"))  # same id, different key
    with pytest.raises(VaultError) as tampered:
        vault.open(impostor.seal(CANARY, **RECORD), **RECORD)
    assert not isinstance(tampered.value, UnknownKeyError)


WHERE = "credential 'application_key' of connection 'conn-1'"


def test_a_stored_key_id_must_be_the_one_inside_the_envelope(vault: Vault) -> None:
    envelope = vault.seal(CANARY, **RECORD)
    assert stored_key_id(envelope, "k1", where=WHERE) == "k1"


@pytest.mark.parametrize(
    ("recorded", "named"),
    [
        ("k9", "its row names key 'k9'"),
        ("K1", "its row names key 'K1'"),
        ("k1 ", "its row names key 'k1 '"),
        ("", "its row names key ''"),
        (None, "its row names no key"),
        (1, "its row names a malformed key id"),
        ("x" * 65, "its row names a malformed key id"),
        ("k1\n", "its row names a malformed key id"),
        ("CANARY-\u00e9", "its row names a malformed key id"),
    ],
)
def test_a_stored_key_id_that_disagrees_is_tampering(vault: Vault, recorded: object, named: str) -> None:
    """The column is not trusted: any other value is refused, and odd values are not echoed."""
    envelope = vault.seal(CANARY, **RECORD)
    with pytest.raises(VaultError) as caught:
        stored_key_id(envelope, recorded, where=WHERE)
    assert not isinstance(caught.value, UnknownKeyError)
    assert str(caught.value) == f"{WHERE} was altered: {named} but its envelope was sealed with key 'k1'"
    assert "CANARY" not in str(caught.value)


def test_a_malformed_stored_envelope_names_its_row() -> None:
    with pytest.raises(VaultError, match=f"^{WHERE}: not a storelink envelope"):
        stored_key_id("garbage", "k1", where=WHERE)


def test_any_key_of_the_ring_opens_and_the_active_one_seals() -> None:
    old = KeyRing.generate("k1")
    new = old.with_new_key(activate=True)
    sealed_old = Vault(old).seal(CANARY, **RECORD)

    assert Vault(new).open(sealed_old, **RECORD) == CANARY
    assert key_id(Vault(new).seal(CANARY, **RECORD)) == "k2"
    assert Vault(new).key_id(sealed_old) == "k1"


def test_errors_and_reprs_reveal_no_key_and_no_plaintext(vault: Vault) -> None:
    ring = KeyRing.parse(GOLDEN["keys"])
    golden = Vault(ring)
    key = b"storelink-golden-key-NOT-SECRET!"
    envelope = golden.seal(CANARY, **RECORD)
    texts = [repr(ring), str(ring), repr(golden)]
    for attempt in (
        lambda: golden.open(envelope, connection_id="other", platform="occ", field="application_key"),
        lambda: vault.open(envelope, **RECORD),
        lambda: golden.open(envelope[:-3], **RECORD),
        lambda: golden.open(envelope + "A", **RECORD),
        lambda: key_id("garbage"),
    ):
        with pytest.raises(VaultError) as caught:
            attempt()
        texts += [str(caught.value), repr(caught.value)]
    needles = [
        key.decode(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        key.hex(),
        CANARY.decode(),
        base64.b64encode(CANARY).decode()[:20],
        envelope[:20],
    ]
    leaks = [(n, t) for t in texts for n in needles if n in t]
    assert leaks == []
    assert "golden" in repr(ring)


def test_vaults_and_rings_cannot_be_pickled(vault: Vault) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(vault)
    with pytest.raises(TypeError):
        pickle.dumps(vault.keyring)
