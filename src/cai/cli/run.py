"""``cai run``: the whole Constitutional AI loop on one model, into one run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cai.cli.common import console, load_config, setup_logging, user_errors


def run(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML pipeline config; flags override it.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model to align: default | hf:PATH | gguf:PATH")] = None,
    constitution: Annotated[str | None, typer.Option(help="Bundled name ('default') or a YAML file.")] = None,
    judge_model: Annotated[
        str | None,
        typer.Option(
            help="Stage-2 judge model (e.g. openai:NAME@URL). Default: the shipped classifiers judge, "
            "because the embedded 135M model cannot compare answers (it always picks the first shown)."
        ),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small profile: minutes on a laptop CPU.")] = False,
    out: Annotated[str | None, typer.Option(help="Run directory (rerun the same command to resume).")] = None,
    cache: Annotated[str | None, typer.Option(help="Call cache: 'auto', 'none' or a SQLite path.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for prompt splits and sampling.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Critique → revise → SFT → label → DPO → evaluate base vs aligned, in one run directory.

    Bundled prompts are split into a training part (stages 1 and 2) and a held-out part (evaluation).
    Writes critique/, sft/, label/, dpo/, eval-base/, eval-aligned/, metrics.json and report.html (base
    vs aligned) into --out; steps.json records finished steps so an interrupted run continues where it
    stopped. A config's step sections (critique, sft, label, dpo, eval) override each step's settings.
    Stage 2 is labelled by --judge-model when given, else by the shipped harm/refusal classifiers; the
    evaluation uses the same classifiers, so its numbers share their blind spots.
    """
    from cai.pipeline import Pipeline, PipelineConfig

    setup_logging(verbose)
    with user_errors():
        overrides = {
            "model": model,
            "constitution": constitution,
            "judge_model": judge_model,
            "out": out,
            "cache": cache,
            "seed": seed,
            "profile": "quick" if quick else None,
        }
        pipeline_config = load_config(PipelineConfig, config, overrides)
        state = Pipeline(pipeline_config, progress=not quiet).run()
    _print(state, Path(pipeline_config.out))


def _print(state: dict[str, Any], out: Path) -> None:
    table = Table(title=f"cai run: {out}")
    for column in ("step", "status", "seconds", "result"):
        table.add_column(column)
    for name, step in state["steps"].items():
        extra = {k: v for k, v in step.items() if k not in ("status", "seconds")}
        table.add_row(name, step["status"], str(step.get("seconds", "")), json.dumps(extra, default=str)[:90])
    console.print(table)
    console.print(f"report: {out / 'report.html'}")
