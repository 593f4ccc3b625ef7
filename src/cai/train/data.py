"""Training rows: read, validate, convert to TRL's conversational formats, shuffle and split.

SFT rows ``{"messages": [...]}`` become TRL prompt-completion rows (``prompt`` = every message but the
last, ``completion`` = the last, assistant, message). TRL computes the loss on the completion only for
that format, which is what we want: loss on the whole conversation made the default model worse, and
its chat template has no ``{% generation %}`` markers, so ``assistant_only_loss`` cannot be used.
Preference rows keep ``prompt``/``chosen``/``rejected`` message lists. Every other column is dropped.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cai.data import DataError, RowProblems, jsonl_rows, read_text
from cai.data.rows import Source, local_source
from cai.records import Message, validate_conversation

__all__ = [
    "Example",
    "LengthReport",
    "Split",
    "drop_too_long",
    "load_examples",
    "preference_example",
    "sft_example",
    "split_examples",
    "to_dataset",
]

Example = dict[str, list[Message]]
"""One training row in TRL's conversational form: {prompt, completion} or {prompt, chosen, rejected}."""


@dataclass(frozen=True)
class Split:
    """Shuffled rows, with ``eval`` held out for the eval loss (empty when ``eval_fraction`` is 0)."""

    train: list[Example]
    eval: list[Example]


@dataclass(frozen=True)
class LengthReport:
    """Rows kept and dropped because no completion token would fit in ``max_length``."""

    kept: list[Example]
    dropped: int


def sft_example(row: Any) -> Example:
    """``{"messages": [..., assistant]}`` → ``{"prompt": [...], "completion": [assistant]}``."""
    if not isinstance(row, dict):
        raise ValueError(f"expected an object with a 'messages' field, got {type(row).__name__}")
    if "messages" not in row:
        raise ValueError(f"missing field 'messages' (columns here: {_columns(row)})")
    messages = _conversation(row["messages"], "messages")
    if messages[-1]["role"] != "assistant":
        raise ValueError(
            f"messages: the last message must be from the assistant, not {messages[-1]['role']!r}"
        )
    if len(messages) < 2:
        raise ValueError("messages: needs at least one prompt message before the assistant's answer")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def preference_example(row: Any) -> Example:
    """``{"prompt": [...], "chosen": [...], "rejected": [...]}`` (TRL's conversational preference format).

    ``chosen``/``rejected`` may also be plain strings: they are the assistant's reply.
    """
    if not isinstance(row, dict):
        raise ValueError(
            f"expected an object with 'prompt', 'chosen' and 'rejected', got {type(row).__name__}"
        )
    missing = [key for key in ("prompt", "chosen", "rejected") if key not in row]
    if missing:
        fields = ", ".join(repr(key) for key in missing)
        raise ValueError(f"missing field {fields} (columns here: {_columns(row)})")
    prompt = _conversation(row["prompt"], "prompt")
    if prompt[-1]["role"] == "assistant":
        raise ValueError("prompt: the last message must not be from the assistant (it is what is compared)")
    example: Example = {"prompt": prompt}
    for key in ("chosen", "rejected"):
        value = row[key]
        reply = [{"role": "assistant", "content": value}] if isinstance(value, str) else value
        reply = _conversation(reply, key)
        if any(message["role"] != "assistant" for message in reply):
            raise ValueError(f"{key}: every message must be from the assistant")
        example[key] = reply
    if example["chosen"] == example["rejected"]:
        raise ValueError("chosen and rejected are identical")
    return example


def load_examples(kind: str, sources: Sequence[str | Path]) -> list[Example]:
    """Read and validate every row of ``sources``; one ``DataError`` lists each bad row (file:line: field)."""
    convert = sft_example if kind == "sft" else preference_example
    examples: list[Example] = []
    problems = RowProblems()
    for source in sources:
        src = _source(source)
        count = 0
        for row in src.rows:
            count += 1
            example = problems.convert(src.where(row.number), row, convert)
            if example is not None:
                examples.append(example)
        if count == 0:
            raise DataError(f"{source}: no rows")
    problems.raise_if_any(str(sources[0]) if len(sources) == 1 else ", ".join(map(str, sources)))
    return examples


def split_examples(examples: Sequence[Example], eval_fraction: float, seed: int) -> Split:
    """Shuffle with ``seed`` and hold out ``eval_fraction`` (at least one row when the fraction is > 0)."""
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    n_eval = 0
    if eval_fraction > 0 and len(shuffled) > 1:
        n_eval = min(max(1, round(len(shuffled) * eval_fraction)), len(shuffled) - 1)
    return Split(train=shuffled[n_eval:], eval=shuffled[:n_eval])


def drop_too_long(kind: str, examples: Sequence[Example], tokenizer: Any, max_length: int) -> LengthReport:
    """Drop rows TRL would train on nothing for (SFT, DPO: the prompt fills ``max_length``) or silently
    skip (reward: a whole conversation is over ``max_length``), so the summary can count them."""
    kept: list[Example] = []
    for example in examples:
        if kind == "reward":
            longest = max(
                _length(tokenizer, example["prompt"] + example[key]) for key in ("chosen", "rejected")
            )
            fits = longest <= max_length
        else:
            fits = _length(tokenizer, example["prompt"], generation_prompt=True) < max_length
        if fits:
            kept.append(example)
    return LengthReport(kept=kept, dropped=len(examples) - len(kept))


def to_dataset(examples: Sequence[Example]) -> Any:
    """A ``datasets.Dataset`` of the examples (what the TRL trainers take)."""
    from datasets import Dataset

    return Dataset.from_list([dict(example) for example in examples])


def _length(tokenizer: Any, messages: list[Message], *, generation_prompt: bool = False) -> int:
    ids = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=generation_prompt, return_dict=True
    )["input_ids"]
    return len(ids)


def _conversation(value: Any, field: str) -> list[Message]:
    if isinstance(value, list):  # datasets may fill absent struct keys with None
        value = [{k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m for m in value]
    try:
        messages = validate_conversation(value)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _columns(row: dict[str, Any]) -> str:
    return ", ".join(map(str, row)) or "(none)"


def _source(source: str | Path) -> Source:
    """A JSONL file (errors name ``file:line``) or a save_to_disk folder (``folder[:split]: row N``)."""
    local = local_source(source, _jsonl_source)
    if local is None:
        raise DataError(f"{source}: no such file or directory (expected a JSONL file or a datasets folder)")
    return local


def _jsonl_source(path: Path) -> Source:
    return Source(str(path), path.stem, "line", jsonl_rows(read_text(path, "JSONL file")))
