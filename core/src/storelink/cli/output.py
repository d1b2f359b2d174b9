"""Rendering results: rich tables for people, JSON for scripts.

With ``--json`` a model prints as the JSON object :func:`storelink.codec.to_jsonable`
makes of it (the model's field names), a list as JSON Lines (one object per line,
streamed as it arrives). Without it, lists are tables and single records are two-column
grids. Results go to stdout; progress, notes and errors go to stderr, so a script can
pipe stdout while a person still sees what happens.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import click
from attrs import frozen
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "Output", "json_option"]

T = TypeVar("T")


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json`` to a command (its value arrives as ``as_json``)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print JSON with the models' field names (JSON Lines for lists).",
    )(f)


def cell(value: object) -> Text:
    """Render one table cell; text is never read as rich markup."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, enum.Enum):
        return Text(str(value.value))
    if isinstance(value, datetime):
        return Text(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ"))
    if isinstance(value, int):
        return Text(f"{value:,}")
    return Text(str(value))


@frozen
class Column(Generic[T]):
    """A table column: its header, how to get the cell from a row, and its layout.

    :param no_wrap: Never break the cell (ids people copy).
    """

    header: str
    get: Callable[[T], object]
    justify: JustifyMethod = "left"
    no_wrap: bool = False


class Output:
    """Where a command's results go, in the format the user asked for.

    :param json: Print JSON instead of tables.
    """

    def __init__(self, *, json: bool) -> None:
        self.json = json
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    # ------------------------------------------------------------------ JSON

    def json_line(self, data: object) -> None:
        """Write *data* as one line of JSON to stdout."""
        sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def model_json(self, model: object) -> None:
        """Write *model* as one JSON object, with its field names."""
        from storelink.codec import to_jsonable

        self.json_line(to_jsonable(model))

    # ------------------------------------------------------------------ results

    def records(self, rows: Iterable[T], columns: Sequence[Column[T]], *, title: str, empty: str | None = None) -> None:
        """Print *rows*: JSON Lines, or a table (the note *empty* if there are none)."""
        if self.json:
            for row in rows:
                self.model_json(row)
            return
        table = self._table(columns, title)
        for row in rows:
            table.add_row(*(cell(c.get(row)) for c in columns))
        self._print_table(table, empty)

    async def stream(
        self,
        rows: AsyncIterable[T],
        columns: Sequence[Column[T]],
        *,
        title: str,
        limit: int | None = None,
        empty: str | None = None,
    ) -> None:
        """Print rows as they arrive (JSON Lines), or as a table once all are in.

        Stops after *limit* rows; prints the note *empty* instead of an empty table.
        """
        table = None if self.json else self._table(columns, title)
        count = 0
        if limit == 0:
            return
        async for row in rows:
            if table is None:
                self.model_json(row)
            else:
                table.add_row(*(cell(c.get(row)) for c in columns))
            count += 1
            if limit is not None and count >= limit:
                break
        if table is not None:
            self._print_table(table, empty)

    def record(self, model: object, fields: Sequence[tuple[str, object]]) -> None:
        """Print one record: a JSON object, or a grid of *fields* (label, value)."""
        if self.json:
            self.model_json(model)
            return
        grid = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in fields:
            grid.add_row(Text(label), cell(value))
        self.console.print(grid)

    def result(self, text: str) -> None:
        """Print a plain result line to stdout (an id a script may capture)."""
        click.echo(text)

    # ------------------------------------------------------------------ notes

    def note(self, text: str | Text) -> None:
        """Tell the person what is happening (stderr; never part of the result)."""
        self.err.print(text, markup=False)

    def _print_table(self, table: Table, empty: str | None) -> None:
        if table.row_count or empty is None:
            self.console.print(table)
        else:
            self.note(Text(empty, style="dim"))

    def _table(self, columns: Sequence[Column[T]], title: str) -> Table:
        table = Table(title=title, title_justify="left")
        for c in columns:
            table.add_column(c.header, justify=c.justify, overflow="fold", no_wrap=c.no_wrap)
        return table
