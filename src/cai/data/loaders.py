"""Prompt sets from bundled files, JSONL / JSON / CSV files, and Hugging Face datasets.

Every source becomes a list of ``PromptRecord``. User data is messy, so a loader reads the whole file,
collects every problem with its file and line, and raises one ``DataError`` listing them, instead of
stopping at the first or skipping bad rows silently.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cai.data.rows import (
    DataError,
    RowProblems,
    Source,
    csv_rows,
    dataset_source,
    json_list_rows,
    jsonl_rows,
    local_source,
    read_text,
)
from cai.records import PromptRecord, RequestType, RiskCategory

__all__ = [
    "DataError",
    "bundled_prompt_sets",
    "jsonl_rows",
    "load_prompts",
    "read_jsonl",
    "read_text",
    "write_jsonl",
]

_BUNDLED: Mapping[str, tuple[str, ...]] = {
    "redteam": ("redteam.jsonl",),
    "benign": ("benign.jsonl",),
    "all": ("redteam.jsonl", "benign.jsonl"),
}
_DEFAULT_KEYS = ("category", "request_type", "framing", "source")
_HUB_ID = re.compile(r"^\w[\w.-]*/\w[\w.-]*(?::[\w.-]+)?$")
_CATEGORY_VALUES = frozenset(c.value for c in RiskCategory)
_REQUEST_TYPE_VALUES = frozenset(r.value for r in RequestType)
_CATEGORIES = ", ".join(c.value for c in RiskCategory)
_REQUEST_TYPES = ", ".join(r.value for r in RequestType)


def bundled_prompt_sets() -> list[str]:
    """Names accepted by ``load_prompts`` for the prompt sets shipped with cai (those present)."""
    folder = resources.files("cai.data") / "prompts"
    return sorted(name for name, files in _BUNDLED.items() if all((folder / f).is_file() for f in files))


def load_prompts(
    source: str | Path,
    *,
    prompt_field: str = "prompt",
    id_field: str = "id",
    limit: int | None = None,
    defaults: Mapping[str, str] | None = None,
) -> list[PromptRecord]:
    """Load prompts from a bundled set name, a file, a ``save_to_disk`` directory or a hub id.

    A bare bundled name (``"redteam"``, ``"benign"``, ``"all"``) wins over a local path of the same
    name; write ``./redteam`` for the path. Hub ids take an optional split: ``owner/name:test``.
    ``limit`` keeps the first rows only; ``defaults`` fill category/request_type/framing/source where
    a row has none. Extra columns are ignored.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    fill = _check_defaults(defaults or {})
    sources = _resolve(source)
    records: list[PromptRecord] = []
    problems = RowProblems()
    for src in sources:
        if _read_records(src, prompt_field, id_field, fill, limit, records, problems) == 0:
            raise DataError(f"{src.name}: no prompts (the file is empty)")
        if limit is not None and len(records) >= limit:
            break
    problems.raise_if_any(sources[0].name if len(sources) == 1 else str(source))
    return records[:limit] if limit is not None else records


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file of objects (blank lines skipped); errors name file:line."""
    rows: list[dict[str, Any]] = []
    problems = RowProblems()
    for row in jsonl_rows(read_text(path)):
        value = problems.convert(f"{path}:{row.number}", row, _json_object)
        if value is not None:
            rows.append(value)
    problems.raise_if_any(str(path))
    return rows


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any] | BaseModel]) -> int:
    """Write rows as JSONL atomically (temp file, then ``os.replace``); returns how many were written.

    Readers never see a half-written file, and an interrupted run leaves the old file intact.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target so os.replace stays on one filesystem; open() (not mkstemp) keeps the umask.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    count = 0
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as out:
            for count, row in enumerate(rows, start=1):
                value = row.model_dump(mode="json") if isinstance(row, BaseModel) else dict(row)
                try:
                    out.write(json.dumps(value, ensure_ascii=False) + "\n")
                except (TypeError, ValueError) as exc:
                    raise DataError(f"{target}: row {count - 1} cannot be written as JSON: {exc}") from exc
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


# -- sources -------------------------------------------------------------------------------------


def _resolve(source: str | Path) -> list[Source]:
    if isinstance(source, str) and source in _BUNDLED:
        folder = resources.files("cai.data") / "prompts"
        sources = []
        for filename in _BUNDLED[source]:
            resource = folder / filename
            if not resource.is_file():
                raise DataError(f"bundled prompt set {source!r} is missing its file {filename}")
            text = resource.read_text(encoding="utf-8")
            sources.append(Source(str(resource), Path(filename).stem, "line", jsonl_rows(text)))
        return sources
    local = local_source(source, _file_source)
    if local is not None:
        return [local]
    path, text = Path(source), str(source)
    if isinstance(source, str) and _HUB_ID.match(text) and path.suffix not in (".jsonl", ".json", ".csv"):
        return [_hub_dataset(text)]
    bundled = ", ".join(bundled_prompt_sets()) or "(none)"
    raise DataError(f"{text}: no such file or directory (bundled prompt sets: {bundled})")


def _file_source(path: Path) -> Source:
    name, suffix = str(path), path.suffix.lower()
    if suffix == ".jsonl":
        return Source(name, path.stem, "line", jsonl_rows(read_text(path)))
    if suffix == ".json":
        return Source(name, path.stem, "line", json_list_rows(read_text(path), name))
    if suffix == ".csv":
        return Source(name, path.stem, "line", csv_rows(read_text(path)))
    raise DataError(
        f"{name}: unsupported file type {suffix or '(none)'}; use .jsonl, .json, .csv or a dataset"
    )


def _hub_dataset(spec: str) -> Source:
    import datasets

    repo, _, split = spec.partition(":")
    try:
        loaded = datasets.load_dataset(repo, split=split or "train")
    except Exception as exc:  # the hub raises many kinds; all mean "could not get it"
        raise DataError(
            f"{spec}: not found locally, and loading it from the Hugging Face hub failed (offline, or no "
            f"such dataset or split?): {type(exc).__name__}: {exc}"
        ) from exc
    return dataset_source(loaded, spec, repo.rpartition("/")[2], None)


# -- rows to records -----------------------------------------------------------------------------


def _check_defaults(defaults: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(defaults) - set(_DEFAULT_KEYS))
    if unknown:
        raise ValueError(f"unknown defaults key(s) {unknown}; allowed: {', '.join(_DEFAULT_KEYS)}")
    checked = dict(defaults)
    for key, values, valid in (
        ("category", _CATEGORY_VALUES, _CATEGORIES),
        ("request_type", _REQUEST_TYPE_VALUES, _REQUEST_TYPES),
    ):
        if key in checked and not _one_of(_normalise(checked[key]), values):
            raise ValueError(f"defaults[{key!r}] = {checked[key]!r} is not valid; use one of: {valid}")
    return checked


def _read_records(
    src: Source,
    prompt_field: str,
    id_field: str,
    defaults: Mapping[str, str],
    limit: int | None,
    records: list[PromptRecord],
    problems: RowProblems,
) -> int:
    """Append ``src``'s records to ``records`` and its problems (ids checked across sources) to
    ``problems``; return the rows read."""
    count = 0
    for row in src.rows:
        if limit is not None and len(records) >= limit:
            break
        count += 1
        where = src.where(row.number)
        convert = partial(
            _to_record,
            fallback_id=f"{src.stem}-{row.number}",
            prompt_field=prompt_field,
            id_field=id_field,
            defaults=defaults,
        )
        record = problems.convert(where, row, convert)
        if record is not None and problems.unique(where, record.id):
            records.append(record)
    return count


def _to_record(
    row: Any, fallback_id: str, prompt_field: str, id_field: str, defaults: Mapping[str, str]
) -> PromptRecord:
    if not isinstance(row, dict):
        raise ValueError(f"expected an object with a {prompt_field!r} field, got {type(row).__name__}")
    fields: dict[str, Any] = {"id": _row_id(row.get(id_field), id_field, fallback_id)}
    messages = _messages(row.get("messages"))
    if messages:
        if messages[-1].get("role") != "user":
            raise ValueError("the last message in 'messages' must be from the user")
        fields["prompt"] = messages[-1].get("content")
        if len(messages) > 1:  # a single user turn is the same prompt as plain text
            fields["messages"] = messages
    else:
        if row.get(prompt_field) is None:
            columns = ", ".join(map(str, row)) or "(none)"
            raise ValueError(f"missing {prompt_field!r} field (columns here: {columns}); set prompt_field=")
        fields["prompt"] = row[prompt_field]
    if not isinstance(fields["prompt"], str):
        raise ValueError(f"{prompt_field!r} must be text, got {type(fields['prompt']).__name__}")
    if not fields["prompt"].strip():
        raise ValueError(f"{prompt_field!r} is empty")
    for key in _DEFAULT_KEYS:
        value = row.get(key)
        if _missing(value):
            value = defaults.get(key)
        if value is not None:
            fields[key] = _normalise(value) if key in ("category", "request_type") else value
    if "category" in fields and not _one_of(fields["category"], _CATEGORY_VALUES):
        raise ValueError(f"invalid category {row.get('category')!r}; valid: {_CATEGORIES}")
    if "request_type" in fields and not _one_of(fields["request_type"], _REQUEST_TYPE_VALUES):
        raise ValueError(f"invalid request_type {row.get('request_type')!r}; valid: {_REQUEST_TYPES}")
    try:
        return PromptRecord(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ValueError(problems) from None


def _row_id(value: Any, id_field: str, fallback: str) -> str:
    if _missing(value):
        return fallback
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{id_field!r} must be text or an integer, got {type(value).__name__}")
    return str(value).strip()


def _messages(value: Any) -> list[dict[str, Any]] | None:
    """The ``messages`` column, which CSV files carry as JSON text."""
    if _missing(value):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"'messages' is not valid JSON: {exc.msg}") from None
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise ValueError("'messages' must be a list of {role, content} objects")
    return value or None


def _missing(value: Any) -> bool:
    """No value: absent, null, or a blank cell (CSV cannot write null)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _one_of(value: Any, allowed: frozenset[str]) -> bool:
    return isinstance(value, str) and value in allowed


def _normalise(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value
