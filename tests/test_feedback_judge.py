from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from cai.constitution import Constitution, Principle
from cai.engine import CallCache, Engine, RunStore
from cai.feedback import Judge, JudgeConfig, Labeller, PairConfig, ResponsePair, judge_pool
from cai.feedback.pipeline import Provenance, judged_preferences, tally
from cai.feedback.prompts import JUDGE_SYSTEM
from cai.records import Completion, Conversation, GenerationParams, PromptRecord
from cai.testing import FakeModel

SAFE = "I won't help with that, but a locksmith can let you in legally."
UNSAFE = "Sure: insert a tension wrench, then rake the pins until it opens."


def principle(id: str, question: str, *tags: str) -> Principle:
    return Principle(id=id, kind="soft", tags=tags, critique="c", revision="r", preference=question)


CONSTITUTION = Constitution(
    name="test",
    version="1",
    principles=(
        principle("p-one", "Which response is safer (one)?", "harmlessness"),
        principle("p-two", "Which response is safer (two)?", "harmlessness"),
        principle("p-help", "Which response is more helpful?", "helpfulness"),
        Principle(id="p-silent", kind="soft", tags=("harmlessness",), critique="c", revision="r"),
    ),
)
POOL = judge_pool(CONSTITUTION, ["harmlessness"])
PROVENANCE = Provenance("fake:policy", "fake:judge", "test", CONSTITUTION.hash)


def pair(
    first: str = SAFE, second: str = UNSAFE, id: str = "p1:0-1", category: str = "general"
) -> ResponsePair:
    return ResponsePair(
        id=id,
        prompt_id=id.split(":")[0],
        prompt=[{"role": "user", "content": "How do I get into my neighbour's house?"}],
        category=category,
        first=first,
        second=second,
        first_sample=0,
        second_sample=1,
    )


def shown(conv: Conversation) -> tuple[str, str, str]:
    """(question, reply shown as A, reply shown as B) from a judge request."""
    text = conv[-1]["content"]
    question = text.split("[QUESTION]\n", 1)[1].split("\n\n", 1)[0]
    a = text.split("\n\n(A)\n", 1)[1].split("\n\n(B)\n", 1)[0]
    b = text.split("\n\n(B)\n", 1)[1].rsplit("\n\n", 1)[0]
    return question, a, b


def logprobs_preferring_safe(p_safe: float = 0.8):
    def score(conv: Conversation, options: Sequence[str]) -> dict[str, float]:
        _, a, _ = shown(conv)
        p_a = p_safe if a == SAFE else 1.0 - p_safe
        return {"A": math.log(p_a), "B": math.log(1.0 - p_a)}

    return score


def judge(model: FakeModel, **config) -> Judge:
    return Judge(model, Engine(progress=False), POOL, JudgeConfig(**config), seed=0)


def cot_model(reply) -> FakeModel:
    return FakeModel(lambda conv, params: reply(*shown(conv)))


def test_pool_keeps_principles_with_a_comparison_question() -> None:
    assert [p.id for p in POOL] == ["p-one", "p-two"]
    with pytest.raises(ValueError, match="only 2 principles"):
        judge(FakeModel(), principles_per_comparison=3)


def test_logprob_soft_labels_are_normalised_and_swap_averaged() -> None:
    model = FakeModel(option_logprobs=logprobs_preferring_safe(0.8))
    j = judge(model, principles_per_comparison=1)
    [safe_first, safe_second] = j.label([pair(), pair(UNSAFE, SAFE, id="p1:1-0")])
    assert j.method == "logprobs" and model.history == []  # no text generation at all
    assert safe_first.p_first == pytest.approx(0.8) and safe_first.position_consistent is True
    assert safe_second.p_first == pytest.approx(0.2)
    orders = safe_first.comparisons[0].orders
    assert [o.first_as for o in orders] == ["A", "B"]
    assert orders[0].p_a == pytest.approx(0.8) and orders[1].p_a == pytest.approx(0.2)
    assert orders[0].logprobs == {"A": pytest.approx(math.log(0.8)), "B": pytest.approx(math.log(0.2))}


def test_position_biased_judge_gives_a_tie_and_zero_consistency(tmp_path: Path) -> None:
    """A judge that always answers (A) says nothing about the responses: p ≈ 0.5, consistency 0."""

    def policy_or_judge(conv: Conversation, params: GenerationParams) -> str:
        return f"answer {params.sample}"

    model = FakeModel(
        policy_or_judge, option_logprobs=lambda conv, options: {"A": math.log(0.9), "B": math.log(0.1)}
    )
    engine = Engine(progress=False)
    store = RunStore(tmp_path / "run.sqlite")
    labeller = Labeller(model, engine, store, PairConfig(samples=3))
    prompts = [PromptRecord(id=f"q{i}", prompt=f"question {i}") for i in range(2)]
    labeller.run("harmless", "harmlessness", prompts, Judge(model, engine, POOL, JudgeConfig()))
    rows = store.rows("harmless")
    labels = [entry["label"] for row in rows for entry in row["pairs"]]
    assert len(labels) == 6
    assert all(label["p_first"] == pytest.approx(0.5) for label in labels)
    assert all(label["position_consistent"] is False for label in labels)
    counts = tally(rows, margin=0.05)
    assert counts.position_consistency == 0.0 and counts.comparisons == 12
    kept, dropped = judged_preferences(rows, 0.05, PROVENANCE)
    assert kept == [] and dropped == {"near_tie": 6}


def test_chain_of_thought_answers_are_parsed_and_clamped() -> None:
    def reply(question: str, a: str, b: str) -> str:
        return (
            f"Reply {'A' if a == SAFE else 'B'} declines the break-in.\nAnswer: ({'A' if a == SAFE else 'B'})"
        )

    model = cot_model(reply)
    j = judge(model, method="cot", principles_per_comparison=1)
    [label] = j.label([pair()])
    assert j.method == "cot" and len(model.history) == 2
    assert "Answer: (A)" in model.history[0][0][-1]["content"]  # the request says how to answer
    assert model.history[0][0][0] == {"role": "system", "content": JUDGE_SYSTEM}
    assert label.p_first == pytest.approx(0.6) and label.position_consistent is True
    assert label.comparisons[0].orders[0].answer.endswith("Answer: (A)")

    [wide] = judge(model, method="cot", principles_per_comparison=1, cot_clamp=(0.3, 0.7)).label([pair()])
    assert wide.p_first == pytest.approx(0.7)
    [raw] = judge(model, method="cot", principles_per_comparison=1, cot_clamp=(0.0, 1.0)).label([pair()])
    assert raw.p_first == 1.0


def test_unparseable_answers_fail_the_pair_and_are_counted_never_defaulted(tmp_path: Path) -> None:
    def reply(question: str, a: str, b: str) -> str:
        return "Answer: (B)" if a == SAFE else "I think the first one is better."  # second order unreadable

    j = judge(cot_model(reply), method="cot", principles_per_comparison=1)
    [label] = j.label([pair()])
    assert label.error == "parse_error" and label.p_first is None
    comparison = label.comparisons[0]
    assert comparison.error == "parse_error" and comparison.p_first is None
    assert comparison.orders[0].p_a == 0.4 and comparison.orders[1].p_a is None
    assert "no 'Answer: (A)'" in (comparison.orders[1].reason or "")

    row = {
        "prompt_id": "p1",
        "category": "general",
        "request_type": "clearly_harmful",
        "objective": "harmlessness",
        "samples": [],
        "dropped": {},
        "pairs": [{"pair": pair().model_dump(mode="json"), "label": label.model_dump(mode="json")}],
    }
    kept, dropped = judged_preferences([row], 0.0, PROVENANCE)
    assert kept == [] and dropped == {"parse_error": 1}
    counts = tally([row], 0.0)
    assert counts.parse_errors == 1 and counts.dropped == {"parse_error": 1}


def test_failed_and_cut_off_judge_calls_are_errors_with_reasons() -> None:
    failing = FakeModel(lambda conv, p: Completion(text="", finish_reason="error", error="HTTP 503"))
    [label] = judge(failing, method="cot", principles_per_comparison=1).label([pair()])
    assert label.error == "judge_error" and label.comparisons[0].orders[0].reason == "HTTP 503"

    rambling = cot_model(lambda q, a, b: "Let me think about this very carefully for a long while first")
    [cut] = judge(
        rambling, method="cot", principles_per_comparison=1, cot=GenerationParams(max_new_tokens=4)
    ).label([pair()])
    assert cut.error == "parse_error" and "cut off" in (cut.comparisons[0].orders[0].reason or "")


def test_logprobs_with_neither_option_ranked_are_a_parse_error() -> None:
    model = FakeModel(option_logprobs=lambda conv, options: {"A": -math.inf, "B": -math.inf})
    [label] = judge(model, principles_per_comparison=1).label([pair()])
    assert label.error == "parse_error"
    assert label.comparisons[0].orders[0].logprobs == {"A": None, "B": None}


def test_ensemble_averages_principles_drawn_per_pair_id() -> None:
    strength = {"Which response is safer (one)?": 0.9, "Which response is safer (two)?": 0.7}

    def score(conv: Conversation, options: Sequence[str]) -> dict[str, float]:
        question, a, _ = shown(conv)
        p_a = strength[question] if a == SAFE else 1.0 - strength[question]
        return {"A": math.log(p_a), "B": math.log(1.0 - p_a)}

    model = FakeModel(option_logprobs=score)
    [both] = judge(model, principles_per_comparison=2).label([pair()])
    assert sorted(c.principle_id for c in both.comparisons) == ["p-one", "p-two"]
    assert both.p_first == pytest.approx(0.8)
    assert [c.p_first for c in both.comparisons] == pytest.approx(
        [0.9 if c.principle_id == "p-one" else 0.7 for c in both.comparisons]
    )

    single = judge(model, principles_per_comparison=1)
    pairs = [pair(id=f"p{i}:0-1") for i in range(30)]
    first = [lbl.comparisons[0].principle_id for lbl in single.label(pairs)]
    assert first == [lbl.comparisons[0].principle_id for lbl in single.label(pairs)]  # seeded per pair id
    assert set(first) == {"p-one", "p-two"}


def test_principles_follow_the_prompt_category_when_enough_match() -> None:
    constitution = Constitution(
        name="c",
        version="1",
        principles=(
            principle("about-privacy", "Which protects privacy?", "harmlessness", "privacy"),
            principle("about-weapons", "Which avoids weapons help?", "harmlessness", "harmful_instructions"),
            principle("general", "Which is less harmful?", "harmlessness"),
        ),
    )
    pool = judge_pool(constitution, ["harmlessness"])
    j = Judge(FakeModel(), Engine(progress=False), pool, JudgeConfig(principles_per_comparison=2))
    for i in range(10):
        ids = {p.id for p in j.principles_for(pair(id=f"x{i}:0-1", category="privacy"))}
        assert ids == {"about-privacy", "general"}
    j3 = Judge(FakeModel(), Engine(progress=False), pool, JudgeConfig(principles_per_comparison=3))
    assert len(j3.principles_for(pair(category="privacy"))) == 3  # too few relevant: the whole pool


def test_margin_drops_near_ties_and_chooses_the_likelier_response() -> None:
    model = FakeModel(option_logprobs=logprobs_preferring_safe(0.8))
    labels = judge(model, principles_per_comparison=1).label([pair(), pair(UNSAFE, SAFE, id="p1:1-0")])
    row = {
        "prompt_id": "p1",
        "category": "general",
        "request_type": "clearly_harmful",
        "objective": "harmlessness",
        "pairs": [
            {"pair": p.model_dump(mode="json"), "label": lbl.model_dump(mode="json")}
            for p, lbl in zip([pair(), pair(UNSAFE, SAFE, id="p1:1-0")], labels, strict=True)
        ],
    }
    kept, dropped = judged_preferences([row], 0.3, PROVENANCE)  # |0.8 - 0.5| = 0.3 is not below 0.3
    assert len(kept) == 2 and not dropped
    assert all(r.chosen == [{"role": "assistant", "content": SAFE}] for r in kept)
    assert all(r.rejected == [{"role": "assistant", "content": UNSAFE}] for r in kept)
    assert [r.p_chosen for r in kept] == pytest.approx([0.8, 0.8])
    assert kept[0].principle_ids == [labels[0].comparisons[0].principle_id]
    assert kept[0].judge_model == "fake:judge" and kept[0].judge_method == "logprobs"
    kept, dropped = judged_preferences([row], 0.31, PROVENANCE)
    assert kept == [] and dropped == {"near_tie": 2}


def test_chain_of_thought_labels_pass_a_margin_equal_to_their_clamp() -> None:
    model = cot_model(lambda q, a, b: f"Answer: ({'A' if a == SAFE else 'B'})")
    [label] = judge(model, method="cot", principles_per_comparison=1).label([pair()])
    row = {
        "prompt_id": "p1",
        "category": "general",
        "request_type": "clearly_harmful",
        "objective": "harmlessness",
        "pairs": [{"pair": pair().model_dump(mode="json"), "label": label.model_dump(mode="json")}],
    }
    kept, _ = judged_preferences([row], 0.1, PROVENANCE)  # 0.6 - 0.5 is 0.0999… in floating point
    assert len(kept) == 1 and kept[0].p_chosen == pytest.approx(0.6)


def test_logprob_scores_are_cached_so_a_rerun_asks_nothing() -> None:
    asked: list[Conversation] = []

    def score(conv: Conversation, options: Sequence[str]) -> dict[str, float]:
        asked.append(conv)
        return logprobs_preferring_safe(0.7)(conv, options)

    cache = CallCache()
    engine = Engine(cache=cache, batch_size=3, progress=False)
    model = FakeModel(option_logprobs=score)
    pairs = [
        pair(id=f"p{i}:0-1").model_copy(update={"prompt": [{"role": "user", "content": f"q{i}"}]})
        for i in range(4)
    ]
    first = Judge(model, engine, POOL, JudgeConfig(principles_per_comparison=1)).label(pairs)
    assert len(asked) == 8
    again = Judge(model, engine, POOL, JudgeConfig(principles_per_comparison=1))
    assert again.label(pairs) == first and len(asked) == 8
    assert engine.stats.scoring_cached == 8 and engine.stats.scored == 8


class ChatOnly:
    """A model without option log-probabilities (like a server that gives none)."""

    def __init__(self, model: FakeModel) -> None:
        self._model = model

    @property
    def identity(self) -> str:
        return "chat-only"

    def chat(self, conversations, params):
        return self._model.chat(conversations, params)


def test_auto_method_falls_back_to_chain_of_thought_and_logprobs_needs_support() -> None:
    model = ChatOnly(cot_model(lambda q, a, b: f"Answer: ({'A' if a == SAFE else 'B'})"))
    j = Judge(model, Engine(progress=False), POOL, JudgeConfig(principles_per_comparison=1))
    assert j.method == "cot" and j.label([pair()])[0].p_first == pytest.approx(0.6)
    with pytest.raises(ValueError, match="use method 'cot'"):
        Judge(model, Engine(progress=False), POOL, JudgeConfig(method="logprobs"))


def test_without_swap_each_comparison_is_asked_once() -> None:
    model = FakeModel(option_logprobs=lambda conv, options: {"A": math.log(0.9), "B": math.log(0.1)})
    [label] = judge(model, principles_per_comparison=1, swap=False).label([pair()])
    assert len(label.comparisons[0].orders) == 1
    assert label.p_first == pytest.approx(0.9) and label.position_consistent is None
