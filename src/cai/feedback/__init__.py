"""Stage 2 of Constitutional AI (RLAIF): sample response pairs, have an AI judge label them against the
constitution, add stage-1 revision pairs and helpfulness pairs, and write a TRL preference dataset."""

from cai.feedback.classifier_judge import ClassifierJudge
from cai.feedback.dataset import PreferenceRow, write_preferences
from cai.feedback.job import LabelJob, run_label_job
from cai.feedback.judge import Comparison, Judge, JudgeConfig, OrderVerdict, PairLabel, judge_pool
from cai.feedback.mix import MixResult, mix_preferences
from cai.feedback.pairs import PairConfig, PromptPairs, ResponsePair, Sample, make_pairs, sample_pairs
from cai.feedback.parse import ParsedAnswer, parse_answer
from cai.feedback.pipeline import Labeller, judged_preferences, label_log
from cai.feedback.revision_pairs import RevisionPairs, revision_pairs
from cai.feedback.user_data import load_user_preferences

__all__ = [
    "ClassifierJudge",
    "Comparison",
    "Judge",
    "JudgeConfig",
    "LabelJob",
    "Labeller",
    "MixResult",
    "OrderVerdict",
    "PairConfig",
    "PairLabel",
    "ParsedAnswer",
    "PreferenceRow",
    "PromptPairs",
    "ResponsePair",
    "RevisionPairs",
    "Sample",
    "judge_pool",
    "judged_preferences",
    "label_log",
    "load_user_preferences",
    "make_pairs",
    "mix_preferences",
    "parse_answer",
    "revision_pairs",
    "run_label_job",
    "sample_pairs",
    "write_preferences",
]
