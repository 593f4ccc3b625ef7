"""SQLite persistence: the call cache (every model call, keyed by model + conversation + params) and the
run store (every finished row of every step), which together make long runs resumable.

SQLite in WAL mode: a crash loses at most the batch in flight, and a reader never blocks the writer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cai.records import Completion, Conversation, GenerationParams, canonical_json


def call_key(identity: str, conversation: Conversation, params: GenerationParams) -> str:
    """The cache key of one request: equal keys mean the same model, messages and parameters."""
    payload = {"model": identity, "messages": conversation, "params": params.model_dump(mode="json")}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


class _SQLite:
    def __init__(self, path: str | Path, schema: str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._conn:
            yield self._conn

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
);
"""


class CallCache(_SQLite):
    """Finished model calls. Only successful completions are stored, so failures are retried."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        super().__init__(path, _CACHE_SCHEMA)

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Completion] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, completion in self.query(
                f"SELECT key, completion FROM calls WHERE key IN ({marks})", chunk
            ):
                found[key] = Completion.model_validate_json(completion)
        return found

    def put_many(self, items: Iterable[tuple[str, str, Conversation, GenerationParams, Completion]]) -> None:
        now = time.time()
        rows = [
            (
                key,
                model,
                canonical_json({"messages": conv, "params": params.model_dump(mode="json")}),
                completion.model_dump_json(),
                now,
            )
            for key, model, conv, params, completion in items
            if completion.ok
        ]
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM calls")[0][0])


_RUN_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    step TEXT NOT NULL,
    row_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (step, row_id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class RunStore(_SQLite):
    """Finished rows of a run, by step. A resumed run asks ``done(step)`` and skips those rows; writing
    a row twice keeps the first, so nothing is duplicated."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _RUN_SCHEMA)

    def done(self, step: str) -> set[str]:
        return {row_id for (row_id,) in self.query("SELECT row_id FROM rows WHERE step = ?", (step,))}

    def add(self, step: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Record finished rows atomically; returns how many were new."""
        with self.transaction() as conn:
            (seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM rows WHERE step = ?", (step,)).fetchone()
            before = conn.total_changes
            for offset, (row_id, payload) in enumerate(rows, start=1):
                conn.execute(
                    "INSERT OR IGNORE INTO rows VALUES (?, ?, ?, ?)",
                    (step, row_id, seq + offset, json.dumps(payload, ensure_ascii=False)),
                )
            return conn.total_changes - before

    def rows(self, step: str) -> list[dict[str, Any]]:
        return [
            json.loads(payload)
            for (payload,) in self.query("SELECT payload FROM rows WHERE step = ? ORDER BY seq", (step,))
        ]

    def get_meta(self, key: str) -> Any:
        found = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(found[0][0]) if found else None

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def claim(self, fingerprint: str, mismatch: str) -> None:
        """Mark the run as made with settings ``fingerprint``; a run store made with other settings is
        closed and ``ValueError(mismatch)`` raised, so rows of two configurations never mix."""
        previous = self.get_meta("fingerprint")
        if previous is not None and previous != fingerprint:
            self.close()
            raise ValueError(mismatch)
        self.set_meta("fingerprint", fingerprint)
