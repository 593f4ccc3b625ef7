"""Prompt sets and labelled data: bundled files plus loaders for user JSONL / JSON / CSV / HF data."""

from cai.data.loaders import (
    DataError,
    bundled_prompt_sets,
    jsonl_rows,
    load_prompts,
    read_jsonl,
    read_text,
    write_jsonl,
)
from cai.data.rows import RowProblems

__all__ = [
    "DataError",
    "RowProblems",
    "bundled_prompt_sets",
    "jsonl_rows",
    "load_prompts",
    "read_jsonl",
    "read_text",
    "write_jsonl",
]
