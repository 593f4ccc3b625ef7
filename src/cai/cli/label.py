"""``cai label``: stage 2 of Constitutional AI (RLAIF), writing a preference dataset for DPO."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cai.cli.common import console, load_config, setup_logging, user_errors
from cai.feedback.job import LabelJob, run_label_job


def label(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML job config; flags override it.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Policy model that writes the responses: default | hf:PATH | gguf:PATH | openai:NAME@URL"
        ),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="Model that judges the pairs (default: the policy model).")
    ] = None,
    constitution: Annotated[str | None, typer.Option(help="Bundled name ('default') or a YAML file.")] = None,
    prompts: Annotated[
        str | None,
        typer.Option(
            help="Red-team prompts, judged on harmlessness: 'redteam', a file, a dataset or hub id."
        ),
    ] = None,
    helpful: Annotated[
        str | None,
        typer.Option("--helpful", help="Benign prompts judged on helpfulness ('benign', a file, or 'none')."),
    ] = None,
    stage1_run: Annotated[
        str | None, typer.Option(help="A `cai critique` run directory: adds revision-over-original pairs.")
    ] = None,
    user_preferences: Annotated[
        str | None,
        typer.Option(
            help="Your own helpfulness pairs: JSONL with prompt, chosen, rejected (text or messages)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Use a seeded sample of N red-team prompts.")] = None,
    helpful_limit: Annotated[
        int | None, typer.Option(help="Use a seeded sample of N benign prompts.")
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Responses sampled per prompt (pairs: n·(n-1)/2).")
    ] = None,
    max_pairs: Annotated[int | None, typer.Option(help="Keep at most N pairs per prompt (seeded).")] = None,
    principles: Annotated[
        int | None, typer.Option(help="Principles per pair; the judge's answers are averaged.")
    ] = None,
    judge_method: Annotated[
        str | None,
        typer.Option(
            help="auto | logprobs | cot | classifier (auto: log-probabilities when the judge model gives "
            "them; classifier: the shipped harm/refusal classifiers score each response, no judge model)."
        ),
    ] = None,
    swap: Annotated[
        bool | None,
        typer.Option("--swap/--no-swap", help="Ask each comparison in both orders to cancel position bias."),
    ] = None,
    margin: Annotated[
        float | None, typer.Option(help="Drop pairs whose probability is within this of 0.5.")
    ] = None,
    helpful_ratio: Annotated[
        float | None, typer.Option(help="Share of helpfulness pairs in the dataset.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for prompts, pairs, principles and mixing.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Conversations per model call.")] = None,
    on_too_long: Annotated[
        str | None, typer.Option(help="Prompts over the context: skip | truncate | error.")
    ] = None,
    out: Annotated[str | None, typer.Option(help="Run directory (rerun the same command to resume).")] = None,
    cache: Annotated[str | None, typer.Option(help="Call cache: 'auto', 'none' or a SQLite path.")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Delete the run directory first instead of resuming.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Sample response pairs, have an AI judge label them against the constitution, write a DPO dataset.

    Each prompt is answered several times; pairs of different answers are judged under principles
    sampled from the constitution (harmlessness for red-team prompts, helpfulness for benign ones), in
    both orders to cancel position bias. Soft labels come from answer log-probabilities where the judge
    model gives them, else from a short chain of thought (clamped); --judge-method classifier compares
    the shipped classifiers' scores instead (harm or compliance for red-team prompts, refusal for benign
    ones). Near-ties and unreadable answers are dropped and counted. Stage-1 revisions and your own
    pairs can be added; the two kinds are mixed at --helpful-ratio. Writes preferences.jsonl,
    preferences_dataset/ (HF datasets, TRL format), label_log.jsonl and summary.json into --out.
    Interrupted runs resume.
    """
    setup_logging(verbose)
    with user_errors():
        job = load_config(
            LabelJob,
            config,
            {
                "model": model,
                "judge_model": judge_model,
                "constitution": constitution,
                "prompts": prompts,
                "helpful_prompts": None if helpful is None else ("" if helpful == "none" else helpful),
                "stage1_run": stage1_run,
                "user_preferences": user_preferences,
                "limit": limit,
                "helpful_limit": helpful_limit,
                "margin": margin,
                "helpful_ratio": helpful_ratio,
                "seed": seed,
                "batch_size": batch_size,
                "on_too_long": on_too_long,
                "out": out,
                "cache": cache,
            },
        )
        job = _override(job, "pairs", {"samples": samples, "max_pairs_per_prompt": max_pairs})
        job = _override(
            job, "judge", {"principles_per_comparison": principles, "method": judge_method, "swap": swap}
        )
        result = run_label_job(job, progress=not quiet, overwrite=overwrite)
    _print_summary(result)


def _override(job: LabelJob, section: str, flags: dict[str, Any]) -> LabelJob:
    """Apply the flags the user gave to one sub-config, validating the result."""
    given = {k: v for k, v in flags.items() if v is not None}
    if not given:
        return job
    return LabelJob.model_validate(
        {**job.model_dump(), section: {**getattr(job, section).model_dump(), **given}}
    )


def _print_summary(result: dict[str, Any]) -> None:
    table = Table(title="stage 2 summary", show_header=False)
    consistency = result["position_consistency"]
    rows = [
        ("policy model", result["model"]),
        ("judge model", f"{result['judge_model']} ({result['judge_method']})"),
        (
            "constitution",
            f"{result['constitution']['name']} {result['constitution']['version']} "
            f"({result['constitution']['hash']})",
        ),
        (
            "prompts (harmless / helpful)",
            f"{result['harmlessness']['prompts']} / {result['helpfulness']['prompts']}",
        ),
        ("samples (errors)", f"{result['samples']} ({result['sample_errors']})"),
        (
            "pairs made / judged / kept",
            f"{result['pairs_made']} / {result['pairs_judged']} / {result['pairs_kept']}",
        ),
        ("pairs dropped", ", ".join(f"{k}={v}" for k, v in result["pairs_dropped"].items()) or "-"),
        ("comparisons (parse errors)", f"{result['comparisons']} ({result['parse_errors']})"),
        ("position consistency", "-" if consistency is None else f"{consistency:.1%}"),
        ("revision pairs", result["revision_pairs"]["pairs"]),
        ("user pairs", result["user_pairs"]),
        (
            "dataset (harmless + helpful)",
            f"{result['preferences']} ({result['mix']['harmless_used']} + {result['mix']['helpful_used']})",
        ),
        ("pairs/s", result["pairs_per_second"]),
        ("wall time", f"{result['wall_seconds']} s"),
        ("dataset", result["files"]["jsonl"]),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
