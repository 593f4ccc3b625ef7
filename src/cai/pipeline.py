"""``cai run``: the whole loop in one run directory — critique → revise → SFT → label → DPO → evaluate the
base model against the aligned one.

Each step is an existing job (``run_critique_job``, ``train``, ``run_label_job``, ``run_eval``) with its own
sub-directory; ``steps.json`` records finished steps, so rerunning an interrupted ``cai run`` continues
from the first unfinished step (and that step's job resumes its own work). Prompts are split once into a
training part (stage 1 and 2) and a held-out part (evaluation), so the aligned model is never evaluated
on prompts it was trained on.

Stage 2 is judged by ``judge_model`` when one is set; otherwise by the shipped classifiers
(``cai.feedback.classifier_judge``), because the embedded model's own comparisons carry no signal.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cai.data import load_prompts, write_jsonl
from cai.records import content_hash

log = logging.getLogger(__name__)

STEPS = ("critique", "sft", "label", "dpo", "eval_base", "eval_aligned", "report")

# Profiles only fill in what the user did not set. "quick" is sized to finish in minutes on 2 CPU cores.
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "critique": {
            "limit": 8,
            "helpful_limit": 8,
            "stage1": {
                "revisions": 2,
                "answer": {"max_new_tokens": 96},
                "critique": {"max_new_tokens": 64},
                "revision": {"max_new_tokens": 96, "temperature": 0.8, "top_p": 0.95},
            },
        },
        "sft": {
            "optim": {"max_steps": 8, "per_device_batch_size": 2, "max_length": 384},
            "eval_fraction": 0.0,
        },
        "label": {
            "limit": 6,
            "helpful_limit": 6,
            "judge": {"principles_per_comparison": 1},
            "pairs": {"generation": {"max_new_tokens": 64, "temperature": 0.8, "top_p": 0.95}},
        },
        "dpo": {
            "optim": {"max_steps": 8, "per_device_batch_size": 2, "max_length": 384},
            "eval_fraction": 0.0,
        },
        "eval": {"limit": 16, "generation": {"max_new_tokens": 96}},
    },
    # "full" is sized to finish within an hour on 2 CPU cores (measured step times: README, "Speed").
    # Red-team stage 1 is the slowest step there (long few-shot critique and revision prompts, ~23 s a
    # prompt), so it gets fewer prompts than the cheap helpful answers.
    "full": {
        "critique": {"limit": 32, "helpful_limit": 64, "stage1": {"revisions": 2}},
        "sft": {"optim": {"epochs": 2}},
        "label": {"limit": 48, "helpful_limit": 48},
        "dpo": {"optim": {"epochs": 1}},
        "eval": {"limit": 60},
    },
}


class PipelineConfig(BaseModel):
    """The loop's settings. Each step's section holds overrides for that step's own config (the same keys
    as ``cai critique``/``cai train``/``cai label``/``cai eval`` configs)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "default"
    constitution: str = "default"
    judge_model: str | None = Field(
        None,
        description="stage-2 judge; None: the shipped classifiers compare the answers (the embedded 135M "
        "model prefers whichever answer it is shown first, so its own labels are all near-ties)",
    )
    profile: str = Field("full", description="quick | full: defaults for every step")
    out: str = "runs/cai"
    cache: str = "auto"
    seed: int = 0
    heldout_fraction: float = Field(0.25, gt=0.0, lt=1.0, description="prompts kept back for evaluation")
    min_sft_revisions: int = Field(
        1,
        ge=0,
        description="skip SFT when stage 1 kept fewer revisions than this: SFT on helpful answers alone "
        "teaches compliance (measured on the embedded model: refusal of harmful prompts 45% -> 25%)",
    )
    critique: dict[str, Any] = Field(default_factory=dict)
    sft: dict[str, Any] = Field(default_factory=dict)
    label: dict[str, Any] = Field(default_factory=dict)
    dpo: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = (
            _merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


def _section(config: PipelineConfig, name: str) -> dict[str, Any]:
    if config.profile not in PROFILES:
        raise ValueError(f"unknown profile {config.profile!r}; choose from {', '.join(PROFILES)}")
    return _merge(PROFILES[config.profile].get(name, {}), getattr(config, name))


def split_prompts(out: Path, seed: int, fraction: float) -> dict[str, str]:
    """Write seeded train / held-out splits of the bundled red-team and benign sets; return their paths."""
    paths: dict[str, str] = {}
    for name in ("redteam", "benign"):
        prompts = load_prompts(name)
        order = list(range(len(prompts)))
        random.Random(f"{seed}:{name}:split").shuffle(order)
        cut = round(len(prompts) * fraction)
        parts = {"heldout": sorted(order[:cut]), "train": sorted(order[cut:])}
        for part, indices in parts.items():
            path = out / "data" / f"{name}_{part}.jsonl"
            write_jsonl(path, [prompts[i].model_dump(mode="json", exclude={"messages"}) for i in indices])
            paths[f"{name}_{part}"] = str(path)
    return paths


class Pipeline:
    """Runs the steps in order, skipping those ``steps.json`` marks done."""

    def __init__(self, config: PipelineConfig, *, progress: bool = True) -> None:
        self.config = config
        self.progress = progress
        self.out = Path(config.out)
        self.state_file = self.out / "steps.json"

    def _state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text()) if self.state_file.is_file() else {}

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        state = self._state()
        fingerprint = content_hash(self.config.model_dump(mode="json", exclude={"out"}))
        if state.get("fingerprint", fingerprint) != fingerprint:
            raise ValueError(
                f"{self.out} holds a `cai run` with other settings; use another --out or delete it to restart"
            )
        state["fingerprint"] = fingerprint
        (self.out / "pipeline.json").write_text(self.config.model_dump_json(indent=2))
        if "splits" not in state:
            state["splits"] = split_prompts(self.out, self.config.seed, self.config.heldout_fraction)
        self._save(state)
        steps: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "critique": self._critique,
            "sft": self._sft,
            "label": self._label,
            "dpo": self._dpo,
            "eval_base": lambda s: self._eval(s, self.config.model, "eval-base"),
            "eval_aligned": lambda s: self._eval(s, self._aligned_model(s), "eval-aligned"),
            "report": self._report,
        }
        for name in STEPS:
            done = state.setdefault("steps", {}).get(name)
            if done and done.get("status") in ("done", "skipped"):
                continue
            log.info("cai run: step %s", name)
            began = time.perf_counter()
            result = steps[name](state)
            result["seconds"] = round(time.perf_counter() - began, 1)
            state["steps"][name] = result
            self._save(state)
        return state

    # -- steps -----------------------------------------------------------------------------------
    def _critique(self, state: dict[str, Any]) -> dict[str, Any]:
        from cai.critique.job import CritiqueJob, run_critique_job

        splits = state["splits"]
        job = CritiqueJob.model_validate(
            _merge(
                {
                    "model": self.config.model,
                    "constitution": self.config.constitution,
                    "prompts": splits["redteam_train"],
                    "helpful_prompts": splits["benign_train"],
                    "out": str(self.out / "critique"),
                    "cache": self.config.cache,
                    "stage1": {"seed": self.config.seed},
                },
                _section(self.config, "critique"),
            )
        )
        result = run_critique_job(job, progress=self.progress)
        return {
            "status": "done",
            "sft_rows": result["sft_rows"],
            "sft_revision_rows": result["sft_revision_rows"],
            "kept": result["kept"],
            "prompts": result["prompts"],
            "helpful_kept": result["helpful_kept"],
        }

    def _train(self, kind: str, model: str, data: str, folder: str) -> dict[str, Any]:
        from cai.train import load_train_config, train

        overrides = _section(self.config, kind)
        config = load_train_config(kind=kind)  # type: ignore[arg-type]
        data_dump = _merge(
            config.model_dump(),
            {**overrides, "model": model, "data": [data], "output_dir": str(self.out / folder)},
        )
        config = type(config).model_validate(data_dump)
        summary = train(config, quiet=not self.progress)
        return {
            "status": "done",
            "adapter": str(self.out / folder / "adapter"),
            "steps": summary.get("steps"),
            "train_loss": summary.get("train_loss"),
        }

    def _sft(self, state: dict[str, Any]) -> dict[str, Any]:
        critique = state["steps"]["critique"]
        if not critique.get("sft_rows"):
            return {"status": "skipped", "why": "stage 1 kept no SFT rows"}
        revisions = critique.get("sft_revision_rows", 0)
        if revisions < self.config.min_sft_revisions:
            return {
                "status": "skipped",
                "why": f"stage 1 kept {revisions} revisions (min_sft_revisions is "
                f"{self.config.min_sft_revisions}): SFT on helpful answers alone would teach compliance",
            }
        return self._train("sft", self.config.model, str(self.out / "critique" / "sft.jsonl"), "sft")

    def _policy(self, state: dict[str, Any]) -> str:
        sft = state["steps"].get("sft", {})
        return f"hf:{sft['adapter']}" if sft.get("status") == "done" else self.config.model

    def _label(self, state: dict[str, Any]) -> dict[str, Any]:
        from cai.feedback.job import LabelJob, run_label_job

        splits = state["splits"]
        job = LabelJob.model_validate(
            _merge(
                {
                    "model": self._policy(state),
                    "judge_model": self.config.judge_model,
                    "judge": {"method": "auto" if self.config.judge_model else "classifier"},
                    "constitution": self.config.constitution,
                    "prompts": splits["redteam_train"],
                    "helpful_prompts": splits["benign_train"],
                    "stage1_run": str(self.out / "critique"),
                    "out": str(self.out / "label"),
                    "cache": self.config.cache,
                    "seed": self.config.seed,
                },
                _section(self.config, "label"),
            )
        )
        result = run_label_job(job, progress=self.progress)
        return {
            "status": "done",
            "judge": f"{result['judge_model']} ({result['judge_method']})",
            "preferences": result.get("preferences", 0),
            "by_source": result.get("by_source", {}),
            "position_consistency": result.get("position_consistency"),
        }

    def _dpo(self, state: dict[str, Any]) -> dict[str, Any]:
        if not state["steps"]["label"].get("preferences"):
            return {"status": "skipped", "why": "stage 2 produced no preference pairs"}
        start = state["steps"].get("sft", {})
        base = start["adapter"] if start.get("status") == "done" else self.config.model
        return self._train("dpo", base, str(self.out / "label" / "preferences.jsonl"), "dpo")

    def _aligned_model(self, state: dict[str, Any]) -> str:
        for step in ("dpo", "sft"):
            if state["steps"].get(step, {}).get("status") == "done":
                return f"hf:{state['steps'][step]['adapter']}"
        return self.config.model

    def _eval(self, state: dict[str, Any], model: str, folder: str) -> dict[str, Any]:
        from cai.evals.runner import EvalJob, run_eval

        splits = state["splits"]
        job = EvalJob.model_validate(
            _merge(
                {
                    "model": model,
                    "benchmarks": [splits["redteam_heldout"], splits["benign_heldout"]],
                    "out": str(self.out / folder),
                    "cache": self.config.cache,
                    "seed": self.config.seed,
                },
                _section(self.config, "eval"),
            )
        )
        metrics = run_eval(job, progress=self.progress)
        return {
            "status": "done",
            "model": model,
            "harmful_compliance_rate": metrics["harmful_compliance_rate"],
            "over_refusal_rate": metrics["over_refusal_rate"],
        }

    def _report(self, state: dict[str, Any]) -> dict[str, Any]:
        from cai.evals.metrics import compare, compute_metrics
        from cai.evals.report import write_html_report
        from cai.evals.runner import load_run

        _, base_rows = load_run(self.out / "eval-base")
        _, aligned_rows = load_run(self.out / "eval-aligned")
        base, aligned = compute_metrics(base_rows), compute_metrics(aligned_rows)
        write_html_report(
            aligned,
            self.out / "report.html",
            title="cai run: base vs aligned",
            rows=aligned_rows,
            comparison_with=base,
            labels=("base", "aligned"),
        )
        comparison = compare(base, aligned)
        summary = {
            "base": base.to_json(),
            "aligned": aligned.to_json(),
            "comparison": comparison.model_dump(mode="json"),
            "steps": {k: v for k, v in state["steps"].items()},
        }
        (self.out / "metrics.json").write_text(json.dumps(summary, indent=2, default=str))
        return {"status": "done", "report": str(self.out / "report.html")}
