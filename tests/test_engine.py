from __future__ import annotations

import pytest

from cai.engine import CallCache, Engine, PromptTooLong, RunStore, call_key
from cai.records import Completion, GenerationParams, user
from cai.testing import FakeModel

PARAMS = GenerationParams(max_new_tokens=16)


def convs(*texts: str) -> list[list[dict[str, str]]]:
    return [[user(t)] for t in texts]  # type: ignore[list-item]


def test_results_come_back_in_input_order_while_batches_are_length_sorted() -> None:
    model = FakeModel(lambda conv, p: f"echo {conv[-1]['content']}")
    texts = ["a", "b b b b b b", "c c c", "d d d d d d d d d d"]
    out = Engine(batch_size=2, progress=False).generate(model, convs(*texts), PARAMS)
    assert [c.text for c in out] == [f"echo {t}" for t in texts]
    sent = [h[0][-1]["content"] for h in model.history]
    assert sent == sorted(texts, key=len, reverse=True)  # longest first
    assert model.batches == [2, 2]


def test_cache_serves_a_rerun_and_keys_depend_on_params_and_model() -> None:
    cache = CallCache()
    model = FakeModel(lambda conv, p: "hi")
    engine = Engine(cache=cache, progress=False)
    engine.generate(model, convs("x", "y"), PARAMS)
    assert len(model.history) == 2
    again = Engine(cache=cache, progress=False)
    out = again.generate(model, convs("x", "y"), PARAMS)
    assert [c.text for c in out] == ["hi", "hi"]
    assert len(model.history) == 2 and again.stats.cached == 2
    Engine(cache=cache, progress=False).generate(model, convs("x"), PARAMS.model_copy(update={"sample": 1}))
    assert len(model.history) == 3
    key = call_key("fake:a", [user("x")], PARAMS)
    assert key != call_key("fake:b", [user("x")], PARAMS)
    assert key != call_key("fake:a", [user("x")], PARAMS.model_copy(update={"temperature": 0.5}))


def test_cache_persists_on_disk(tmp_path) -> None:
    path = tmp_path / "calls.sqlite"
    model = FakeModel(lambda conv, p: "stored")
    Engine(cache=CallCache(path), progress=False).generate(model, convs("q"), PARAMS)
    other = FakeModel(lambda conv, p: "never called")
    out = Engine(cache=CallCache(path), progress=False).generate(other, convs("q"), PARAMS)
    assert out[0].text == "stored" and other.history == []


def test_identical_requests_are_generated_once() -> None:
    model = FakeModel(lambda conv, p: "same")
    out = Engine(progress=False).generate(model, convs("q", "q", "q"), PARAMS)
    assert [c.text for c in out] == ["same"] * 3 and len(model.history) == 1


def test_a_failing_batch_is_retried_row_by_row_and_errors_are_not_cached() -> None:
    def flaky(conv, params):
        if "bad" in conv[-1]["content"]:
            raise TimeoutError("server timed out")
        return "fine"

    cache = CallCache()
    engine = Engine(cache=cache, batch_size=8, progress=False)
    out = engine.generate(FakeModel(flaky), convs("good 1", "bad", "good 2"), PARAMS)
    assert [c.text for c in out] == ["fine", "", "fine"]
    assert out[1].finish_reason == "error" and "server timed out" in (out[1].error or "")
    assert engine.stats.errors == 1 and len(cache) == 2
    healed = FakeModel(lambda conv, p: "recovered")
    rerun = Engine(cache=cache, progress=False).generate(healed, convs("good 1", "bad", "good 2"), PARAMS)
    assert [c.text for c in rerun] == ["fine", "recovered", "fine"]
    assert len(healed.history) == 1


def test_empty_and_too_long_prompts_are_skipped_with_a_reason() -> None:
    model = FakeModel(lambda conv, p: "ok", context_length=30)
    long = " ".join(["word"] * 40)
    out = Engine(progress=False).generate(model, convs("  ", long, "short"), PARAMS)
    assert out[0].finish_reason == "skipped" and "empty prompt" in (out[0].error or "")
    assert out[1].finish_reason == "skipped" and "exceeds the model's context of 30" in (out[1].error or "")
    assert out[2].text == "ok"
    assert len(model.history) == 1


def test_too_long_prompts_can_be_truncated_or_raise() -> None:
    model = FakeModel(lambda conv, p: conv[-1]["content"], context_length=60)
    long = " ".join(f"w{i}" for i in range(200))
    engine = Engine(on_too_long="truncate", progress=False)
    out = engine.generate(model, convs(long), PARAMS)
    sent = model.history[0][0][-1]["content"]
    assert out[0].ok and sent.endswith("[…truncated]") and sent.startswith("w0 w1")
    assert model.count_tokens([[user(sent)]])[0] <= 60 - PARAMS.max_new_tokens
    assert engine.stats.truncated == 1
    with pytest.raises(PromptTooLong, match="exceeds"):
        Engine(on_too_long="error", progress=False).generate(model, convs(long), PARAMS)


def test_model_returning_wrong_count_is_an_error_per_row() -> None:
    class Broken(FakeModel):
        def chat(self, conversations, params):
            return [Completion(text="only one")]

    out = Engine(progress=False).generate(Broken(), convs("a"), PARAMS)
    assert out[0].text == "only one"
    out = Engine(progress=False).generate(Broken(), convs("a", "b"), PARAMS)
    assert [c.text for c in out] == ["only one", "only one"]  # isolated one by one


def test_run_store_records_rows_once_in_order(tmp_path) -> None:
    store = RunStore(tmp_path / "run.sqlite")
    assert store.add("s", [("a", {"v": 1}), ("b", {"v": 2})]) == 2
    assert store.add("s", [("b", {"v": 99}), ("c", {"v": 3})]) == 1
    assert store.done("s") == {"a", "b", "c"}
    assert [r["v"] for r in store.rows("s")] == [1, 2, 3]
    assert store.rows("other") == []
    store.set_meta("k", {"x": 1})
    assert RunStore(tmp_path / "run.sqlite").get_meta("k") == {"x": 1}


def test_backends_that_batch_themselves_get_larger_batches() -> None:
    class SelfBatching(FakeModel):
        preferred_batch_size = 64

    model = SelfBatching(lambda conv, p: "ok")
    Engine(batch_size=4, progress=False).generate(model, convs(*[f"q{i}" for i in range(100)]), PARAMS)
    assert model.batches == [64, 36]


def test_option_scores_are_batched_deduplicated_cached_and_kept_apart_from_text() -> None:
    asked: list[str] = []

    def score(conv: list[dict[str, str]], options: object) -> dict[str, float]:
        asked.append(conv[-1]["content"])
        return {"A": -0.1, "B": -2.5} if "x" in conv[-1]["content"] else {"A": -3.0}

    cache = CallCache()
    model = FakeModel(lambda conv, p: "text", option_logprobs=score)  # type: ignore[arg-type]
    engine = Engine(cache=cache, batch_size=2, progress=False)
    out = engine.score_choices(model, convs("x1", "y", "x1", "x2"), ["A", "B"])
    assert out[0] == out[2] == {"A": -0.1, "B": -2.5}
    assert out[1] == {"A": -3.0, "B": float("-inf")}  # an option the backend did not rank
    assert sorted(asked) == ["x1", "x2", "y"]  # the repeated request was scored once
    assert engine.stats.scoring_requests == 4 and engine.stats.scored == 3
    again = Engine(cache=cache, progress=False)
    assert again.score_choices(model, convs("x1", "y", "x2"), ["A", "B"]) == [out[0], out[1], out[3]]
    assert len(asked) == 3 and again.stats.scoring_cached == 3
    assert again.stats.scoring_json() == {"requests": 3, "cached": 3, "scored": 0, "seconds": 0.0}
    # other options are another key; a text request for the same conversation is not served from scores
    again.score_choices(model, convs("x1"), ["Yes", "No"])
    assert len(asked) == 4
    assert again.generate(model, convs("x1"), PARAMS)[0].text == "text"


def test_option_scoring_needs_a_scoring_model_and_a_score_per_request() -> None:
    class TextOnly:
        identity = "text-only"

    with pytest.raises(TypeError, match="text-only gives no answer-option log-probabilities"):
        Engine(progress=False).score_choices(TextOnly(), convs("x"), ["A"])  # type: ignore[arg-type]

    class Short(FakeModel):
        def choice_logprobs(self, conversations, options):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(RuntimeError, match="returned 0 scores for 2 requests"):
        Engine(progress=False).score_choices(Short(), convs("x", "y"), ["A"])
    assert Engine(progress=False).stats.scoring_json() is None
