"""Reading data files row by row: JSONL, JSON lists and CSV, each row with the line it starts on (or
the problem that makes it unreadable), and ``DataError``, which reports every problem with its place.

The prompt loaders (``cai.data.loaders``), the benchmark loaders (``cai.evals.benchmarks``), user
preference files and training data all read through here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DataError", "Row", "Source", "csv_rows", "json_list_rows", "jsonl_rows", "read_text"]

MAX_ERRORS_SHOWN = 20
_JSON_SPACE = " \t\r\n"


class DataError(ValueError):
    """A data file could not be read or has invalid rows; ``errors`` has one line per problem."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = errors if errors is not None else [message]

    @classmethod
    def collected(cls, name: str, errors: list[str]) -> DataError:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        lines = shown + ([f"... and {more} more ({len(errors)} errors in all)"] if more else [])
        noun = "error" if len(errors) == 1 else "errors"
        return cls(f"{name}: {len(errors)} {noun}:\n  " + "\n  ".join(lines), errors)


@dataclass(frozen=True)
class Row:
    """One raw row: where it is (``number`` in ``unit``s) and either its value or why it is unreadable."""

    number: int
    value: Any = None
    problem: str | None = None


@dataclass(frozen=True)
class Source:
    name: str  # shown in errors: the file path, dataset directory or hub id
    stem: str  # prefix of generated ids
    unit: str  # "line" for files, "row" for datasets
    rows: Iterable[Row]

    def where(self, number: int) -> str:
        return f"{self.name}:{number}" if self.unit == "line" else f"{self.name}: row {number}"


def read_text(path: str | Path, expected: str = "file") -> str:
    """A data file's text (a UTF-8 BOM is dropped); ``DataError`` says plainly why it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path}: is a directory, expected a {expected}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def jsonl_rows(text: str) -> Iterator[Row]:
    """Each non-blank line's number and parsed value, or why it is not JSON (``problem``)."""
    # split on "\n" only: str.splitlines() also breaks at U+2028 etc., which JSON strings may hold raw
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield Row(number, json.loads(line))
        except json.JSONDecodeError as exc:
            yield Row(number, problem=f"invalid JSON: {exc.msg} (column {exc.colno})")


def json_list_rows(text: str, name: str) -> Iterator[Row]:
    """Items of a top-level JSON list, each with the line it starts on."""
    decoder = json.JSONDecoder()

    def skip_space(pos: int) -> int:
        while pos < len(text) and text[pos] in _JSON_SPACE:
            pos += 1
        return pos

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    pos = skip_space(0)
    if pos == len(text):
        return
    if text[pos] != "[":
        raise DataError(f"{name}:{line_of(pos)}: expected a JSON list of objects")
    pos = skip_space(pos + 1)
    if text.startswith("]", pos):
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
        yield Row(line_of(pos), value)
        pos = skip_space(end)
        if text.startswith(",", pos):
            pos = skip_space(pos + 1)
        elif text.startswith("]", pos) and not text[pos + 1 :].strip():
            return
        else:
            raise DataError(f"{name}:{line_of(pos)}: invalid JSON: expected ',' or the closing ']'")


def csv_rows(text: str) -> Iterator[Row]:
    """Rows as dicts keyed by the header; ``number`` is the line the row starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    last_line = 0
    for cells in reader:
        start, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(cells) > len(header):
            yield Row(start, problem=f"row has {len(cells)} fields but the header has {len(header)}")
            continue
        yield Row(start, dict(zip(header, cells, strict=False)))
