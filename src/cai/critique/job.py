"""A whole stage-1 job as one typed config: which model, constitution and prompts, where to write.

``run_critique_job`` is what ``cai critique`` (and later ``cai run``) calls. The run directory holds
the run store; running the same job again resumes it, and a job with different settings refuses to
mix its rows into an old directory.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cai.constitution import load_constitution
from cai.critique.export import sft_rows, write_sft
from cai.critique.pipeline import CRITIQUE_STEP, HELPFUL_STEP, StageOne, StageOneConfig
from cai.critique.prompts import load_few_shot
from cai.data import load_prompts, write_jsonl
from cai.engine import CallCache, Engine, RunStore
from cai.models import load_model
from cai.models.default import cache_dir
from cai.records import PromptRecord, content_hash


class CritiqueJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field("default", description="model name: default, hf:PATH, gguf:PATH, openai:NAME@URL")
    constitution: str = Field("default", description="bundled constitution name or YAML path")
    prompts: str = Field("redteam", description="red-team prompts to critique and revise")
    helpful_prompts: str | None = Field("benign", description="benign prompts whose answers are kept")
    limit: int | None = Field(None, ge=1, description="use a seeded sample of this many red-team prompts")
    helpful_limit: int | None = Field(None, ge=0)
    helpful_ratio: float = Field(0.5, ge=0.0, lt=1.0, description="share of helpful rows in the SFT set")
    few_shot: str = Field("default", description="few-shot demonstrations: 'default' or a YAML path")
    out: str = "runs/critique"
    cache: str = Field("auto", description="call cache: 'auto' (user cache dir), 'none', or a path")
    batch_size: int = Field(16, ge=1)
    on_too_long: Literal["skip", "truncate", "error"] = "skip"
    stage1: StageOneConfig = StageOneConfig()


def _sample(prompts: list[PromptRecord], limit: int | None, seed: int) -> list[PromptRecord]:
    if limit is None or limit >= len(prompts):
        return prompts
    keep = set(random.Random(seed).sample(range(len(prompts)), limit))
    return [p for i, p in enumerate(prompts) if i in keep]


def open_cache(spec: str) -> CallCache | None:
    if spec == "none":
        return None
    return CallCache(cache_dir() / "calls.sqlite" if spec == "auto" else Path(spec))


def run_critique_job(job: CritiqueJob, *, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) stage 1 and write the SFT dataset, logs and ``summary.json`` into ``job.out``."""
    started = time.perf_counter()
    out = Path(job.out)
    if overwrite and out.exists():
        shutil.rmtree(out)
    constitution = load_constitution(job.constitution)
    few_shot = load_few_shot(job.few_shot)
    harmful = _sample(load_prompts(job.prompts), job.limit, job.stage1.seed)
    helpful = (
        _sample(load_prompts(job.helpful_prompts), job.helpful_limit, job.stage1.seed)
        if job.helpful_prompts and job.helpful_limit != 0
        else []
    )
    model = load_model(job.model)

    out.mkdir(parents=True, exist_ok=True)
    store = RunStore(out / "run.sqlite")
    fingerprint = content_hash(
        {
            "model": model.identity,
            "constitution": constitution.hash,
            "few_shot": few_shot.model_dump(mode="json"),
            "stage1": job.stage1.model_dump(mode="json"),
            "prompts": [job.prompts, job.helpful_prompts],
        }
    )
    store.claim(
        fingerprint,
        f"{out} holds a stage-1 run with different settings (model, constitution, few-shot or stage1 "
        "options); pass --overwrite to start over or choose another --out",
    )
    (out / "job.json").write_text(job.model_dump_json(indent=2))

    engine = Engine(
        cache=open_cache(job.cache), batch_size=job.batch_size, on_too_long=job.on_too_long, progress=progress
    )
    stage = StageOne(model, engine, constitution, few_shot, store, job.stage1)
    summary = stage.run(harmful, helpful)

    rows = sft_rows(
        store,
        constitution=constitution,
        model=model.identity,
        helpful_ratio=job.helpful_ratio,
        seed=job.stage1.seed,
    )
    files = write_sft(rows, out)
    write_jsonl(out / "critique_log.jsonl", store.rows(CRITIQUE_STEP))
    write_jsonl(out / "helpful_log.jsonl", store.rows(HELPFUL_STEP))
    stats = engine.stats
    result = {
        "model": model.identity,
        "constitution": {
            "name": constitution.name,
            "version": constitution.version,
            "hash": constitution.hash,
        },
        "sft_rows": len(rows),
        "sft_revision_rows": sum(r["source"] == "revision" for r in rows),
        "sft_helpful_rows": sum(r["source"] == "helpful" for r in rows),
        **summary.to_json(),
        "engine": stats.to_json(),
        "files": files,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    store.close()
    return result
