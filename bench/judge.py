"""AI-judge labelling speed and position bias: log-probability labels, chain-of-thought labels and the
classifier judge (shipped harm/refusal heads, no judge model).

    .venv/bin/python bench/judge.py [--model default] [--prompts 8] [--json out.json]

Samples two responses per red-team prompt once (cached), then labels the same pairs with each method,
both presentation orders, one principle per pair, without a cache, and prints pairs/s, their ratio, the
position-consistency rate (share of comparisons that prefer the same response in both orders), the
parse-error rate of the chain-of-thought answers, and the share of pairs each method labels outside the
default margin (|p - 0.5| >= 0.05, the pairs `cai label` keeps).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from cai.constitution import load_constitution
from cai.data import load_prompts
from cai.engine import CallCache, Engine
from cai.feedback.classifier_judge import ClassifierJudge
from cai.feedback.judge import Judge, JudgeConfig, PairLabel, judge_pool
from cai.feedback.pairs import PairConfig, sample_pairs
from cai.feedback.pipeline import near_tie
from cai.models import load_model
from cai.records import GenerationParams


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="default")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--cot-tokens", type=int, default=128)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    model = load_model(args.model)
    prompts = load_prompts("redteam", limit=args.prompts)
    pool = judge_pool(load_constitution("default"), ["harmlessness"])
    with tempfile.TemporaryDirectory() as tmp:
        sampler = Engine(cache=CallCache(Path(tmp) / "calls.sqlite"), progress=False)
        pair_config = PairConfig(generation=GenerationParams(max_new_tokens=96, temperature=0.8, top_p=0.95))
        pairs = [
            p for group in sample_pairs(sampler, model, prompts, pair_config, seed=0) for p in group.pairs
        ]
    figures: dict[str, Any] = {"model": model.identity, "pairs": len(pairs)}
    for method in ("logprobs", "cot", "classifier"):
        config = JudgeConfig(
            method=method,
            principles_per_comparison=1,
            cot=GenerationParams(max_new_tokens=args.cot_tokens),
        )
        judge: Judge | ClassifierJudge
        if method == "classifier":
            judge = ClassifierJudge("harmlessness")
            judge.label(pairs[:1])  # load the heads and the encoder outside the timed part
        else:
            judge = Judge(model, Engine(progress=False), pool, config, seed=0)
        began = time.perf_counter()
        labels: list[PairLabel] = judge.label(pairs)
        seconds = time.perf_counter() - began
        comparisons = [c for label in labels for c in label.comparisons]
        judged = [c for c in comparisons if c.consistent is not None]
        figures[method] = {
            "pairs_per_s": round(len(pairs) / seconds, 3),
            "seconds": round(seconds, 1),
            "position_consistency": round(sum(bool(c.consistent) for c in judged) / len(judged), 3)
            if judged
            else None,
            "comparison_errors": sum(c.error is not None for c in comparisons),
            "comparisons": len(comparisons),
            "kept_outside_margin": round(
                sum(x.p_first is not None and not near_tie(x.p_first, 0.05) for x in labels) / len(labels), 3
            )
            if labels
            else None,
        }
    if figures["cot"]["pairs_per_s"]:
        figures["logprobs_over_cot_speed"] = round(
            figures["logprobs"]["pairs_per_s"] / figures["cot"]["pairs_per_s"], 1
        )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
