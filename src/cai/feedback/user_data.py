"""A user's own preference pairs (JSONL), checked row by row.

Each line is an object with ``prompt``, ``chosen`` and ``rejected``; each may be plain text or, in
TRL's conversational form, a list of ``{role, content}`` messages (the prompt ending with the user's
turn, the responses assistant turns). ``id`` is optional. Other columns are ignored. Every problem is
collected with its ``file:line`` and field, then raised as one ``DataError``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from cai.data import DataError, RowProblems, jsonl_rows, read_text
from cai.feedback.dataset import PreferenceRow
from cai.feedback.pairs import normalise_whitespace
from cai.records import Message, assistant, user, validate_conversation

__all__ = ["load_user_preferences"]

_FIELDS = ("prompt", "chosen", "rejected")


def load_user_preferences(path: str | Path) -> list[PreferenceRow]:
    """Rows with ``source="user"`` and ``objective="helpfulness"``; raise ``DataError`` on any bad row."""
    name = str(path)
    text = read_text(path, "JSONL file")
    rows: list[PreferenceRow] = []
    problems = RowProblems()
    stem = Path(path).stem
    for line in jsonl_rows(text):
        where = f"{name}:{line.number}"
        row = problems.convert(where, line, partial(_row, fallback_id=f"{stem}-{line.number}"))
        if row is not None and problems.unique(where, row.prompt_id):
            rows.append(row)
    problems.raise_if_any(name)
    if not rows:
        raise DataError(f"{name}: no preference rows (the file is empty)")
    return rows


def _row(value: Any, fallback_id: str) -> PreferenceRow:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object with prompt, chosen and rejected, got {type(value).__name__}")
    missing = [f for f in _FIELDS if f not in value or value[f] is None]
    if missing:
        present = ", ".join(map(str, value)) or "(none)"
        raise ValueError(f"missing field {', '.join(map(repr, missing))} (fields here: {present})")
    prompt = _messages(value["prompt"], "prompt", "user")
    chosen = _messages(value["chosen"], "chosen", "assistant")
    rejected = _messages(value["rejected"], "rejected", "assistant")
    if [normalise_whitespace(m["content"]) for m in chosen] == [
        normalise_whitespace(m["content"]) for m in rejected
    ]:
        raise ValueError("'chosen' and 'rejected' are the same text")
    row_id = _id(value.get("id"), fallback_id)
    return PreferenceRow(
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        id=f"user:{row_id}",
        prompt_id=row_id,
        source="user",
        objective="helpfulness",
        principle_ids=[],
    )


def _messages(value: Any, field: str, role: str) -> list[Message]:
    """Plain text becomes one message with ``role``; a message list is checked."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{field!r} is empty")
        return [user(value) if role == "user" else assistant(value)]
    if not isinstance(value, list):
        raise ValueError(f"{field!r} must be text or a list of messages, got {type(value).__name__}")
    try:
        messages = validate_conversation(value)
    except ValueError as exc:
        raise ValueError(f"{field!r}: {exc}") from None
    if role == "user" and messages[-1]["role"] != "user":
        raise ValueError(f"{field!r}: the last message must be from the user, not {messages[-1]['role']!r}")
    if role == "assistant":
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                raise ValueError(f"{field!r}: message {i} has role {message['role']!r}; expected 'assistant'")
    if not any(m["content"].strip() for m in messages):
        raise ValueError(f"{field!r} is empty")
    return messages


def _id(value: Any, fallback: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return fallback
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"'id' must be text or an integer, got {type(value).__name__}")
    return str(value).strip()
