"""A whole stage-2 job as one typed config: models, constitution, prompt sets, where to write.

``run_label_job`` is what ``cai label`` calls. The run directory holds the run store; running the same
job again resumes it (finished prompts are not relabelled, calls of an interrupted chunk come from the
cache), and a job whose labelling settings differ refuses to mix its rows into an old directory.

Only settings that change stored labels are in the fingerprint: models, constitution, pair and judge
options, seed and prompt sources. The margin, the mixing ratio, limits, revision pairs from stage 1 and
user preferences are applied when the dataset is written, so they can change on a rerun for free.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cai.constitution import Principle, load_constitution
from cai.critique.job import open_cache
from cai.data import load_prompts, write_jsonl
from cai.engine import Engine, RunStore
from cai.feedback.classifier_judge import ClassifierJudge, classifier_identity
from cai.feedback.dataset import Objective, PreferenceRow, write_preferences
from cai.feedback.judge import Judge, JudgeConfig, Method, judge_pool, resolve_method
from cai.feedback.mix import mix_preferences
from cai.feedback.pairs import PairConfig
from cai.feedback.pipeline import (
    HARMLESS_STEP,
    HELPFUL_STEP,
    Labeller,
    PairJudge,
    Provenance,
    StepRun,
    judged_preferences,
    label_log,
    tally,
)
from cai.feedback.revision_pairs import RevisionPairs, revision_pairs
from cai.feedback.user_data import load_user_preferences
from cai.models import load_model
from cai.models.base import ChatModel
from cai.records import PromptRecord, content_hash

__all__ = ["LabelJob", "run_label_job"]


class LabelJob(BaseModel):
    """Everything ``cai label`` needs; YAML is its saved form (``job.json`` in the run directory)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("default", description="policy model that writes the responses")
    judge_model: str | None = Field(None, description="model that judges pairs; default: the policy model")
    constitution: str = Field("default", description="bundled constitution name or YAML path")
    prompts: str = Field("redteam", description="red-team prompts, judged on harmlessness")
    helpful_prompts: str | None = Field("benign", description="benign prompts, judged on helpfulness")
    stage1_run: str | None = Field(None, description="stage-1 run directory: revision → original pairs")
    user_preferences: str | None = Field(None, description="JSONL of your own prompt/chosen/rejected pairs")
    limit: int | None = Field(None, ge=1, description="use a seeded sample of this many red-team prompts")
    helpful_limit: int | None = Field(None, ge=0)
    helpful_ratio: float = Field(0.5, ge=0.0, lt=1.0, description="share of helpfulness pairs in the output")
    margin: float = Field(0.05, ge=0.0, lt=0.5, description="drop pairs with |p - 0.5| below this")
    seed: int = 0
    pairs: PairConfig = PairConfig()
    judge: JudgeConfig = JudgeConfig()
    out: str = "runs/label"
    cache: str = Field("auto", description="call cache: 'auto' (user cache dir), 'none', or a path")
    batch_size: int = Field(16, ge=1)
    chunk_size: int = Field(32, ge=1, description="prompts per committed chunk")
    on_too_long: Literal["skip", "truncate", "error"] = "skip"


def _sample(prompts: list[PromptRecord], limit: int | None, seed: int) -> list[PromptRecord]:
    if limit is None or limit >= len(prompts):
        return prompts
    keep = set(random.Random(seed).sample(range(len(prompts)), limit))
    return [p for i, p in enumerate(prompts) if i in keep]


def _check_sources(job: LabelJob) -> None:
    has_helpful = bool(job.helpful_prompts) and job.helpful_limit != 0
    if job.helpful_ratio > 0 and not has_helpful and not job.user_preferences:
        raise ValueError(
            f"helpful_ratio is {job.helpful_ratio} but there is nothing to judge on helpfulness: give "
            "helpful_prompts or user_preferences, or set helpful_ratio to 0"
        )


def _check_judge(job: LabelJob) -> None:
    if job.judge.method == "classifier" and job.judge_model is not None:
        raise ValueError(
            f"judge method 'classifier' asks no judge model, but judge_model is {job.judge_model!r}: drop "
            "one of the two"
        )


def _check_margin(job: LabelJob, method: str) -> None:
    low, high = job.judge.cot_clamp
    reach = max(high - 0.5, 0.5 - low)
    if method == "cot" and job.margin > reach + 1e-9:
        raise ValueError(
            f"margin {job.margin} is wider than chain-of-thought labels can reach (cot_clamp "
            f"{list(job.judge.cot_clamp)} gives |p - 0.5| <= {reach:.2f}): every pair would be dropped"
        )


def _warnings(mix_warning: str | None, rows: int) -> list[str]:
    found = [mix_warning] if mix_warning else []
    if not rows:
        found.append("no preference pairs were kept: see pairs_dropped and label_log.jsonl")
    return found


def run_label_job(
    job: LabelJob,
    *,
    progress: bool = True,
    overwrite: bool = False,
    model: ChatModel | None = None,
    judge_model: ChatModel | None = None,
) -> dict[str, Any]:
    """Run (or resume) stage 2 and write the preference dataset, log and ``summary.json`` to ``job.out``.

    ``model``/``judge_model`` replace the models named in the job (tests pass scripted fakes).
    """
    started = time.perf_counter()
    _check_sources(job)
    _check_judge(job)
    out = Path(job.out)
    constitution = load_constitution(job.constitution)
    harmless_pool = judge_pool(constitution, job.judge.harmless_tags)
    helpful_pool = judge_pool(constitution, job.judge.helpful_tags) if job.helpful_prompts else []
    # read the cheap inputs first, so a bad file fails before any model call
    user_rows = load_user_preferences(job.user_preferences) if job.user_preferences else []
    revisions = revision_pairs(job.stage1_run) if job.stage1_run else RevisionPairs(rows=[])
    harmful = _sample(load_prompts(job.prompts), job.limit, job.seed)
    helpful = (
        _sample(load_prompts(job.helpful_prompts), job.helpful_limit, job.seed)
        if job.helpful_prompts and job.helpful_limit != 0
        else []
    )
    policy = model if model is not None else load_model(job.model)
    classifier = job.judge.method == "classifier"
    method: Method
    if classifier:
        judge_identity, method = classifier_identity(), "classifier"
    else:
        if judge_model is None:
            same = job.judge_model is None or job.judge_model == job.model
            judge_model = policy if same else load_model(job.judge_model or job.model)
        judge_identity, method = judge_model.identity, resolve_method(job.judge, judge_model)
    _check_margin(job, method)

    if overwrite and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    store = RunStore(out / "run.sqlite")
    fingerprint = content_hash(
        {
            "model": policy.identity,
            "judge_model": judge_identity,
            "method": method,
            "constitution": constitution.hash,
            "pairs": job.pairs.model_dump(mode="json"),
            "judge": job.judge.model_dump(mode="json"),
            "seed": job.seed,
            "prompts": [job.prompts, job.helpful_prompts],
        }
    )
    store.claim(
        fingerprint,
        f"{out} holds a stage-2 run with different settings (models, constitution, pairs, judge, seed "
        "or prompt sets); pass --overwrite to start over or choose another --out",
    )
    (out / "job.json").write_text(job.model_dump_json(indent=2))

    engine = Engine(
        cache=open_cache(job.cache), batch_size=job.batch_size, on_too_long=job.on_too_long, progress=progress
    )
    labeller = Labeller(policy, engine, store, job.pairs, job.seed, job.chunk_size)
    runs: dict[str, StepRun] = {}
    try:
        plan: list[tuple[str, Objective, list[PromptRecord], list[Principle]]] = [
            (HARMLESS_STEP, "harmlessness", harmful, harmless_pool),
            (HELPFUL_STEP, "helpfulness", helpful, helpful_pool),
        ]
        for step, objective, prompts, pool in plan:
            if not prompts:
                continue
            judge: PairJudge
            if classifier or judge_model is None:
                judge = ClassifierJudge(objective)
            else:
                judge = Judge(judge_model, engine, pool, job.judge, job.seed)
            runs[step] = labeller.run(step, objective, prompts, judge)
        stored = {step: store.rows(step) for step in (HARMLESS_STEP, HELPFUL_STEP)}
    finally:
        store.close()

    provenance = Provenance(policy.identity, judge_identity, constitution.name, constitution.hash)
    judged: dict[str, list[PreferenceRow]] = {}
    for step, rows in stored.items():
        judged[step], _ = judged_preferences(rows, job.margin, provenance)
    mixed = mix_preferences(
        judged[HARMLESS_STEP] + revisions.rows, judged[HELPFUL_STEP] + user_rows, job.helpful_ratio, job.seed
    )
    files = write_preferences(mixed.rows, out)
    log_rows = label_log(stored[HARMLESS_STEP]) + label_log(stored[HELPFUL_STEP])
    write_jsonl(out / "label_log.jsonl", log_rows)
    files["label_log"] = str(out / "label_log.jsonl")

    tallies = {step: tally(rows, job.margin) for step, rows in stored.items()}
    total = tallies[HARMLESS_STEP].add(tallies[HELPFUL_STEP])
    judged_now = sum(r.pairs_judged for r in runs.values())
    labelling_seconds = sum(r.seconds for r in runs.values())
    stats = engine.stats
    result: dict[str, Any] = {
        "model": policy.identity,
        "judge_model": judge_identity,
        "judge_method": method,
        "constitution": {
            "name": constitution.name,
            "version": constitution.version,
            "hash": constitution.hash,
        },
        "preferences": len(mixed.rows),
        "by_source": dict(Counter(r.source for r in mixed.rows)),
        "by_objective": dict(Counter(r.objective for r in mixed.rows)),
        **total.to_json(kept=len(judged[HARMLESS_STEP]) + len(judged[HELPFUL_STEP])),
        "harmlessness": tallies[HARMLESS_STEP].to_json(kept=len(judged[HARMLESS_STEP])),
        "helpfulness": tallies[HELPFUL_STEP].to_json(kept=len(judged[HELPFUL_STEP])),
        "resumed_from_store": sum(r.resumed for r in runs.values()),
        "revision_pairs": revisions.to_json(),
        "user_pairs": len(user_rows),
        "mix": mixed.to_json(),
        "margin": job.margin,
        "engine": stats.to_json(),
        "scoring": stats.scoring_json(),
        "pairs_judged_this_run": judged_now,
        "pairs_per_second": round(judged_now / labelling_seconds, 3) if labelling_seconds else 0.0,
        "warnings": _warnings(mixed.warning, len(mixed.rows)),
        "files": files,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    return result
