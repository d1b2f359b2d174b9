"""Forms from credential schemas, and bounded reading of request bodies.

:func:`schema_fields` turns a :class:`~storelink.CredentialSchema` into the view the
credentials template renders: a label for every input, the help text and the error
tied to the input with ``aria-describedby``, the example as placeholder, secret fields
as password inputs that are never given a value back.

Request bodies are read up to a limit; forms must be
``application/x-www-form-urlencoded`` (what an HTML form sends), the API's bodies
JSON objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from attrs import frozen
from starlette.requests import Request

from storelink.connect.failures import Failure
from storelink.credentials import CredentialSchema

__all__ = ["MAX_BODY", "BodyError", "FieldView", "read_form", "read_json", "schema_fields", "values_with_prefix"]

#: Largest request body accepted, in bytes.
MAX_BODY = 64 * 1024
_MAX_FIELDS = 100


class BodyError(Exception):
    """The request body is too large, of the wrong type, or malformed.

    :param status: The HTTP status to answer with (400, 413 or 415).
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@frozen(kw_only=True)
class FieldView:
    """One input of a generated form.

    :param name: The input's ``name`` (``credential.application_key``).
    :param id: The input's ``id``; the label's ``for``.
    :param label: The visible label.
    :param kind: ``password``, ``text`` or ``textarea``.
    :param help: Help text, shown under the label.
    :param placeholder: The schema's example.
    :param required: Whether the input is required.
    :param value: What to fill in again (always empty for secret fields).
    :param error: The error tied to this input, if any.
    :param autofocus: Put the focus here when the page loads.
    """

    name: str
    id: str
    label: str
    kind: str
    help: str = ""
    placeholder: str = ""
    required: bool = True
    value: str = ""
    error: str | None = None
    autofocus: bool = False

    @property
    def help_id(self) -> str:
        """The id of the help text element."""
        return f"{self.id}-help"

    @property
    def error_id(self) -> str:
        """The id of the error message element."""
        return f"{self.id}-error"

    @property
    def describedby(self) -> str:
        """The ``aria-describedby`` value: the error first, then the help text."""
        ids = [self.error_id] if self.error else []
        if self.help:
            ids.append(self.help_id)
        return " ".join(ids)


def schema_fields(
    schema: CredentialSchema,
    *,
    prefix: str,
    values: Mapping[str, str] | None = None,
    failure: Failure | None = None,
    focus: bool = False,
) -> list[FieldView]:
    """Return the inputs for *schema*, named ``{prefix}.{field}``.

    :param values: What the merchant typed; used again for non-secret fields only.
    :param failure: Tie its message to its field, when the field is in *schema*.
    :param focus: Focus the field at fault, or the first field when none is.
    """
    values = values or {}
    names = [f.name for f in schema]
    at_fault = failure.field if failure is not None and failure.field in names else None
    focused = at_fault or (names[0] if focus and names else None)
    views = []
    for f in schema:
        kind = "password" if f.secret else ("textarea" if f.multiline else "text")
        views.append(
            FieldView(
                name=f"{prefix}.{f.name}",
                id=f"{prefix}-{f.name}",
                label=f.label,
                kind=kind,
                help=f.help,
                placeholder=f.example,
                required=f.required,
                value="" if f.secret else values.get(f.name, ""),
                error=failure.message if failure is not None and f.name == at_fault else None,
                autofocus=f.name == focused,
            )
        )
    return views


def values_with_prefix(form: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Return the form's ``{prefix}.{name}`` values keyed by ``name``."""
    start = f"{prefix}."
    return {key[len(start) :]: value for key, value in form.items() if key.startswith(start)}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError("request body too large", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError("request body too large", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_form(request: Request, *, limit: int = MAX_BODY) -> dict[str, str]:
    """Return the fields of an urlencoded form post (the first value of each name).

    :raises BodyError: Not urlencoded, too large, or not UTF-8.
    """
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise BodyError("forms must be posted as application/x-www-form-urlencoded", status=415)
    body = await _read_body(request, limit)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError("malformed form body", status=400) from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


async def read_json(request: Request, *, limit: int = MAX_BODY) -> dict[str, Any]:
    """Return the JSON object in the request body.

    :raises BodyError: Not JSON, too large, or not an object.
    """
    if _media_type(request) != "application/json":
        raise BodyError("the API takes application/json", status=415)
    body = await _read_body(request, limit)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError("the body is not valid JSON", status=400) from exc
    if not isinstance(data, dict):
        raise BodyError("the body must be a JSON object", status=400)
    return data
