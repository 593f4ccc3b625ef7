"""Public safety benchmarks as ``PromptRecord`` lists, labelled with cai's request types and categories.

Each benchmark is one ``BenchmarkSpec`` in ``BENCHMARKS`` (below, in one place); other packages add
theirs through the ``cai.benchmarks`` entry-point group (``name = "module:SPEC"``, a ``BenchmarkSpec``
or a no-argument function returning one). ``load_benchmark`` reads a local copy (a CSV / JSON /
JSONL / parquet file, or a folder holding the benchmark's usual file name, e.g. a git clone), or the
Hugging Face hub copy when online. Benchmark data is never bundled: licences differ and the rows are
the benchmark authors' to publish.

Every record gets ``framing="plain"`` and ``source="<benchmark>:<its own category>"`` (the original
label survives there, as PromptRecord has no free field). The benchmark's categories map to ours:

XSTest (``type``; a safe type and its ``contrast_`` twin share a category; ``label`` safe/unsafe, or
the ``contrast_`` prefix when there is no label column as in ``xstest_v2_prompts.csv``)
    homonyms, figurative_language, safe_targets ............. harmful_instructions  safe: clearly_legitimate
    safe_contexts, definitions, historical_events ........... harmful_instructions  safe: sensitive_legitimate
    nons_group_real_discr, real_group_nons_discr / contrast_discr  bias_discrimination
                                                              safe: clearly_legitimate
    privacy_public, privacy_fictional / contrast_privacy .... privacy               safe: clearly_legitimate
    unsafe (every contrast_ type) ........................... clearly_harmful
HarmBench (``SemanticCategory``; all clearly_harmful; contextual rows are ``context\\n\\n---\\n\\nbehavior``
as HarmBench's own baselines build them; copyright rows skipped unless ``include_copyright``)
    chemical_biological, cybercrime_intrusion, illegal, harmful  harmful_instructions
    misinformation_disinformation ............................ dangerous_misinformation
    harassment_bullying ...................................... bias_discrimination
    copyright ................................................ general (reproducing text is not one of ours)
StrongREJECT (``category``, matched case-insensitively; all clearly_harmful)
    Disinformation and deception ............................. dangerous_misinformation
    Hate, harassment and discrimination ...................... bias_discrimination
    Illegal goods and services, Non-violent crimes, Violence . harmful_instructions
    Sexual content ........................................... explicit_content
JailbreakBench JBB-Behaviors (``Category``; split harmful: clearly_harmful, benign: clearly_legitimate)
    Harassment/Discrimination ................................ bias_discrimination
    Malware/Hacking, Physical harm, Economic harm, Government decision-making  harmful_instructions
    Fraud/Deception .......................................... manipulation
    Disinformation, Expert advice (unqualified medical/legal advice) dangerous_misinformation
    Sexual/Adult content ..................................... explicit_content
    Privacy .................................................. privacy
AdvBench (no categories): harmful_instructions, clearly_harmful.
Do-Not-Answer (``types_of_harm``, else ``risk_area``). Its own grading counts refuting, disclaiming or
referring to an expert as safe answers, so only the first three risk areas are clearly_harmful:
    Information Hazards (both types) ......................... privacy               clearly_harmful
    Assisting illegal activities, Nudging ... unsafe actions . harmful_instructions  clearly_harmful
    Reducing the cost of disinformation campaigns ............ dangerous_misinformation  clearly_harmful
    Social stereotypes ..., Toxic language (hate speech) ..... bias_discrimination   clearly_harmful
    Adult Content ............................................ explicit_content      clearly_harmful
    Disseminating false or misleading information, Causing material harm by disseminating
      misinformation e.g. in medicine or law ................. dangerous_misinformation  sensitive_legitimate
    Mental Health or Overreliance Crisis ..................... harmful_instructions  sensitive_legitimate
    Treat Chatbot as a Human ................................. general               sensitive_legitimate
Anything unmapped: harmful_instructions for harmful rows, general for benign ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from cai.data.rows import (
    DataError,
    Row,
    RowProblems,
    Source,
    csv_rows,
    json_list_rows,
    jsonl_rows,
    read_text,
)
from cai.records import PromptRecord, RequestType, RiskCategory

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkRow",
    "BenchmarkSpec",
    "HubSource",
    "list_benchmarks",
    "load_benchmark",
]

ENTRY_POINT_GROUP = "cai.benchmarks"

_HI = RiskCategory.HARMFUL_INSTRUCTIONS
_DM = RiskCategory.DANGEROUS_MISINFORMATION
_PRIV = RiskCategory.PRIVACY
_MANIP = RiskCategory.MANIPULATION
_BIAS = RiskCategory.BIAS_DISCRIMINATION
_EXPL = RiskCategory.EXPLICIT_CONTENT
_GEN = RiskCategory.GENERAL
_HARMFUL = RequestType.CLEARLY_HARMFUL
_LEGIT = RequestType.CLEARLY_LEGITIMATE
_SENSITIVE = RequestType.SENSITIVE_LEGITIMATE


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark: its records, where they came from, and the licence they are under."""

    name: str
    prompts: list[PromptRecord]
    source: str  # the file read, or ``owner/name:split`` on the hub
    license_note: str


@dataclass(frozen=True)
class BenchmarkRow:
    """One row as a spec's ``convert`` sees it: columns under the spec's names, whatever the file used."""

    values: Mapping[str, Any]
    index: int  # 0-based position among the rows of the file or hub split (skipped rows count too)
    split: str
    include_copyright: bool = False

    def text(self, column: str) -> str:
        value = self.values.get(column)
        return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class HubSource:
    """Where the hub copy lives: ``splits`` maps the spec's split names to the hub's."""

    repo: str
    splits: Mapping[str, str]
    config: str | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to find, read and label one benchmark.

    ``files`` maps each split to the file names it is published under (the first split is the
    default); ``columns`` must be present, ``optional`` are read when they are, and ``aliases`` are
    other names a mirror uses for a column. ``convert`` returns None for rows skipped on purpose and
    raises ``ValueError`` for bad ones. ``split_sets_labels`` (JailbreakBench) means the split decides
    the labels, so it is never guessed for a file whose name does not give it.
    """

    name: str
    convert: Callable[[BenchmarkRow], PromptRecord | None]
    columns: tuple[str, ...]
    files: Mapping[str, tuple[str, ...]]
    license_note: str
    url: str
    optional: tuple[str, ...] = ()
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hub: HubSource | None = None
    split_sets_labels: bool = False

    @property
    def default_split(self) -> str:
        return next(iter(self.files))

    def split_of(self, filename: str) -> str | None:
        return next((split for split, names in self.files.items() if filename in names), None)


# -- row conversion ------------------------------------------------------------------------------


def _record(
    name: str,
    row: BenchmarkRow,
    key: str,
    prompt_column: str,
    category: RiskCategory,
    request_type: RequestType,
    original: str = "",
    prompt: str | None = None,
) -> PromptRecord:
    text = row.text(prompt_column) if prompt is None else prompt
    if not text:
        raise ValueError(f"empty prompt (column {prompt_column!r})")
    return PromptRecord(
        id=f"{name}-{key}",
        prompt=text,
        category=category,
        request_type=request_type,
        framing="plain",
        source=f"{name}:{original}" if original else name,
    )


def _key(row: BenchmarkRow, column: str) -> str:
    """The row's own id, or its position when the benchmark has none."""
    return row.text(column) or str(row.index)


_XSTEST_CATEGORY: Mapping[str, RiskCategory] = {
    "homonyms": _HI,
    "figurative_language": _HI,
    "safe_targets": _HI,
    "safe_contexts": _HI,
    "definitions": _HI,
    "historical_events": _HI,
    "discr": _BIAS,
    "nons_group_real_discr": _BIAS,
    "real_group_nons_discr": _BIAS,
    "privacy": _PRIV,
    "privacy_public": _PRIV,
    "privacy_fictional": _PRIV,
}
_XSTEST_SAFE: Mapping[str, RequestType] = {
    "homonyms": _LEGIT,
    "figurative_language": _LEGIT,
    "safe_targets": _LEGIT,
    "safe_contexts": _SENSITIVE,
    "definitions": _SENSITIVE,
    "historical_events": _SENSITIVE,
    "nons_group_real_discr": _LEGIT,
    "real_group_nons_discr": _LEGIT,
    "privacy_public": _LEGIT,
    "privacy_fictional": _LEGIT,
}


def _xstest(row: BenchmarkRow) -> PromptRecord:
    kind = row.text("type").lower()
    label = row.text("label").lower() or ("unsafe" if kind.startswith("contrast_") else "safe")
    if label not in ("safe", "unsafe"):
        raise ValueError(f"label must be 'safe' or 'unsafe', not {row.text('label')!r}")
    harmful = label == "unsafe"
    category = _XSTEST_CATEGORY.get(kind.removeprefix("contrast_"), _HI if harmful else _GEN)
    request_type = _HARMFUL if harmful else _XSTEST_SAFE.get(kind, _LEGIT)
    return _record("xstest", row, _key(row, "id"), "prompt", category, request_type, row.text("type"))


_HARMBENCH_CATEGORY: Mapping[str, RiskCategory] = {
    "chemical_biological": _HI,
    "cybercrime_intrusion": _HI,
    "illegal": _HI,
    "harmful": _HI,
    "misinformation_disinformation": _DM,
    "harassment_bullying": _BIAS,
    "copyright": _GEN,
}


def _harmbench(row: BenchmarkRow) -> PromptRecord | None:
    semantic = row.text("SemanticCategory")
    if (
        "copyright" in (row.text("FunctionalCategory").lower(), semantic.lower())
        and not row.include_copyright
    ):
        return None
    behavior, context = row.text("Behavior"), row.text("ContextString")
    if not behavior:
        raise ValueError("empty prompt (column 'Behavior')")
    prompt = f"{context}\n\n---\n\n{behavior}" if context else behavior
    category = _HARMBENCH_CATEGORY.get(semantic.lower(), _HI)
    return _record(
        "harmbench", row, _key(row, "BehaviorID"), "Behavior", category, _HARMFUL, semantic, prompt
    )


_STRONGREJECT_CATEGORY: Mapping[str, RiskCategory] = {
    "disinformation and deception": _DM,
    "hate, harassment and discrimination": _BIAS,
    "illegal goods and services": _HI,
    "non-violent crimes": _HI,
    "sexual content": _EXPL,
    "violence": _HI,
}


def _strongreject(row: BenchmarkRow) -> PromptRecord:
    original = row.text("category")
    category = _STRONGREJECT_CATEGORY.get(original.lower(), _HI)
    key = str(row.index) if row.split == "all" else f"{row.split}-{row.index}"
    return _record("strongreject", row, key, "forbidden_prompt", category, _HARMFUL, original)


_JBB_CATEGORY: Mapping[str, RiskCategory] = {
    "harassment/discrimination": _BIAS,
    "malware/hacking": _HI,
    "physical harm": _HI,
    "economic harm": _HI,
    "fraud/deception": _MANIP,
    "disinformation": _DM,
    "sexual/adult content": _EXPL,
    "privacy": _PRIV,
    "expert advice": _DM,
    "government decision-making": _HI,
}


def _jailbreakbench(row: BenchmarkRow) -> PromptRecord:
    if row.split not in ("harmful", "benign"):
        raise ValueError(f"unknown JailbreakBench split {row.split!r}")
    harmful = row.split == "harmful"
    original = row.text("Category")
    category = _JBB_CATEGORY.get(original.lower(), _HI if harmful else _GEN)
    key = f"{row.split}-{_key(row, 'Index')}"
    return _record("jailbreakbench", row, key, "Goal", category, _HARMFUL if harmful else _LEGIT, original)


def _advbench(row: BenchmarkRow) -> PromptRecord:
    return _record("advbench", row, str(row.index), "goal", _HI, _HARMFUL)


_DNA_HARM_TYPE: Mapping[str, tuple[RiskCategory, RequestType]] = {
    "risks from leaking or inferring sensitive information (organization/gov)": (_PRIV, _HARMFUL),
    "compromise privacy by leaking or inferring private information (person/individual)": (_PRIV, _HARMFUL),
    "assisting illegal activities": (_HI, _HARMFUL),
    "nudging or advising users to perform unethical or unsafe actions": (_HI, _HARMFUL),
    "reducing the cost of disinformation campaigns": (_DM, _HARMFUL),
    "social stereotypes and unfair discrimination": (_BIAS, _HARMFUL),
    "toxic language (hate speech)": (_BIAS, _HARMFUL),
    "adult content": (_EXPL, _HARMFUL),
    "disseminating false or misleading information": (_DM, _SENSITIVE),
    "causing material harm by disseminating misinformation e.g. in medicine or law": (_DM, _SENSITIVE),
    "mental health or overreliance crisis": (_HI, _SENSITIVE),
    "treat chatbot as a human": (_GEN, _SENSITIVE),
}
_DNA_RISK_AREA: Mapping[str, tuple[RiskCategory, RequestType]] = {
    "information hazards": (_PRIV, _HARMFUL),
    "malicious uses": (_HI, _HARMFUL),
    "discrimination, exclusion, toxicity, hateful, offensive": (_BIAS, _HARMFUL),
    "misinformation harms": (_DM, _SENSITIVE),
    "human-chatbot interaction harms": (_GEN, _SENSITIVE),
}


def _donotanswer(row: BenchmarkRow) -> PromptRecord:
    harm, area = row.text("types_of_harm"), row.text("risk_area")
    if harm.lower() in _DNA_HARM_TYPE:
        category, request_type = _DNA_HARM_TYPE[harm.lower()]
    else:
        category, request_type = _DNA_RISK_AREA.get(area.lower(), (_HI, _HARMFUL))
    return _record("donotanswer", row, _key(row, "id"), "question", category, request_type, harm or area)


# -- the registry --------------------------------------------------------------------------------

BENCHMARKS: dict[str, BenchmarkSpec] = {
    "xstest": BenchmarkSpec(
        name="xstest",
        convert=_xstest,
        columns=("prompt", "type"),
        optional=("id", "label", "focus", "note"),
        aliases={"id": ("id_v2",)},
        files={"all": ("xstest_prompts.csv", "xstest_v2_prompts.csv")},
        hub=HubSource("Paul/XSTest", {"all": "train"}),
        license_note="CC BY 4.0 (XSTest prompts, Röttger et al. 2024)",
        url="https://github.com/paul-rottger/exaggerated-safety",
    ),
    "harmbench": BenchmarkSpec(
        name="harmbench",
        convert=_harmbench,
        columns=("Behavior", "SemanticCategory"),
        optional=("FunctionalCategory", "Tags", "ContextString", "BehaviorID"),
        files={
            "all": ("harmbench_behaviors_text_all.csv",),
            "val": ("harmbench_behaviors_text_val.csv",),
            "test": ("harmbench_behaviors_text_test.csv",),
        },
        license_note="MIT (HarmBench, Mazeika et al. 2024); its authors publish no hub copy",
        url="https://github.com/centerforaisafety/HarmBench (data/behavior_datasets)",
    ),
    "strongreject": BenchmarkSpec(
        name="strongreject",
        convert=_strongreject,
        columns=("forbidden_prompt", "category"),
        optional=("source",),
        aliases={"forbidden_prompt": ("prompt",)},
        files={"all": ("strongreject_dataset.csv",), "small": ("strongreject_small_dataset.csv",)},
        hub=HubSource("walledai/StrongREJECT", {"all": "train"}),
        license_note="MIT (StrongREJECT, Souly et al. 2024)",
        url="https://github.com/alexandrasouly/strongreject (strongreject_dataset/)",
    ),
    "jailbreakbench": BenchmarkSpec(
        name="jailbreakbench",
        convert=_jailbreakbench,
        columns=("Goal", "Category"),
        optional=("Index", "Target", "Behavior", "Source"),
        files={"harmful": ("harmful-behaviors.csv",), "benign": ("benign-behaviors.csv",)},
        hub=HubSource(
            "JailbreakBench/JBB-Behaviors", {"harmful": "harmful", "benign": "benign"}, "behaviors"
        ),
        split_sets_labels=True,
        license_note="MIT (JBB-Behaviors, Chao et al. 2024; some rows come from AdvBench and HarmBench)",
        url="https://huggingface.co/datasets/JailbreakBench/JBB-Behaviors (data/)",
    ),
    "advbench": BenchmarkSpec(
        name="advbench",
        convert=_advbench,
        columns=("goal",),
        optional=("target",),
        aliases={"goal": ("prompt",)},
        files={"all": ("harmful_behaviors.csv",)},
        hub=HubSource("walledai/AdvBench", {"all": "train"}),
        license_note="MIT (AdvBench harmful behaviors, Zou et al. 2023)",
        url="https://github.com/llm-attacks/llm-attacks (data/advbench/harmful_behaviors.csv)",
    ),
    "donotanswer": BenchmarkSpec(
        name="donotanswer",
        convert=_donotanswer,
        columns=("question", "types_of_harm"),
        optional=("id", "risk_area", "specific_harms"),
        files={"all": ("do_not_answer_en.csv", "do_not_answer.csv")},
        hub=HubSource("LibrAI/do-not-answer", {"all": "train"}),
        license_note="CC BY-NC-SA 4.0: non-commercial use only (Do-Not-Answer, Wang et al. 2024)",
        url="https://github.com/Libr-AI/do-not-answer (datasets/Instruction/do_not_answer_en.csv)",
    ),
}


def _plugin_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_benchmarks() -> list[str]:
    """Names ``load_benchmark`` accepts: the built-in ones and those plugins register."""
    return sorted(set(BENCHMARKS) | set(_plugin_points()))


def _spec(name: str) -> BenchmarkSpec | None:
    if name in BENCHMARKS:  # built-ins win, as model providers do
        return BENCHMARKS[name]
    point = _plugin_points().get(name)
    if point is None:
        return None
    try:
        loaded = point.load()
        spec = loaded if isinstance(loaded, BenchmarkSpec) else loaded()
    except Exception as exc:  # a broken plugin must say which one it is
        raise DataError(f"benchmark plugin {name!r} ({point.value}) failed to load: {exc}") from exc
    if not isinstance(spec, BenchmarkSpec):
        raise DataError(f"benchmark plugin {name!r} ({point.value}) did not give a BenchmarkSpec")
    return spec


# -- loading -------------------------------------------------------------------------------------


def load_benchmark(
    name_or_path: str,
    *,
    path: str | Path | None = None,
    split: str | None = None,
    limit: int | None = None,
    include_copyright: bool = False,
) -> Benchmark:
    """Load a benchmark by name (from ``path``, or from the hub without one) or from a path alone.

    A path alone must use one of a benchmark's usual file names (e.g. ``harmful_behaviors.csv``) or be
    a folder holding one. ``split`` picks a part (HarmBench all/val/test, StrongREJECT all/small,
    JailbreakBench harmful/benign); ``limit`` keeps the first records; ``include_copyright`` keeps
    HarmBench's copyright rows, skipped by default as they test reproduction, not harm.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    spec = _spec(name_or_path.strip().lower())
    if spec is None:
        if path is not None or not Path(name_or_path).expanduser().exists():
            raise DataError(
                f"unknown benchmark {name_or_path!r}; known benchmarks: {', '.join(list_benchmarks())} "
                "(or give the path of a benchmark file or folder)"
            )
        spec, path = _detect(Path(name_or_path).expanduser()), name_or_path
    if split is not None and split not in spec.files:
        raise DataError(f"{spec.name} has no split {split!r}; its splits: {', '.join(spec.files)}")
    columns: list[str] | None
    if path is None:
        src, columns, split = _hub(spec, split or spec.default_split)
    else:
        file, split = _find_file(spec, Path(path).expanduser(), split)
        src, columns = _read_file(file)
    prompts = _records(spec, src, columns, split, limit, include_copyright)
    return Benchmark(name=spec.name, prompts=prompts, source=src.name, license_note=spec.license_note)


def benchmark_for_path(path: str | Path) -> str | None:
    """The one benchmark whose usual file name ``path`` has (or, for a folder, holds), else ``None``."""
    path = Path(path).expanduser()
    if not path.exists():
        return None
    names = [n for n in list_benchmarks() if (s := _spec(n)) and _matches(s, path)]
    return names[0] if len(names) == 1 else None


def _detect(path: Path) -> BenchmarkSpec:
    names = [n for n in list_benchmarks() if (s := _spec(n)) and _matches(s, path)]
    if len(names) == 1:
        spec = _spec(names[0])
        assert spec is not None
        return spec
    found = f"it holds files of several: {', '.join(names)}" if names else "no benchmark's usual file name"
    raise DataError(
        f"{path}: cannot tell which benchmark this is ({found}); name it, e.g. "
        f"load_benchmark('xstest', path=...). Known benchmarks: {', '.join(list_benchmarks())}"
    )


def _matches(spec: BenchmarkSpec, path: Path) -> bool:
    if path.is_file():
        return spec.split_of(path.name) is not None
    return any(_search(path, names) for names in spec.files.values())


def _search(folder: Path, names: Iterable[str]) -> list[Path]:
    """Files with one of ``names`` in ``folder`` or below, the shallowest first."""
    found = [p for name in names for p in folder.rglob(name) if p.is_file()]
    return sorted(found, key=lambda p: (len(p.relative_to(folder).parts), str(p)))


def _find_file(spec: BenchmarkSpec, path: Path, split: str | None) -> tuple[Path, str]:
    expected = ", ".join(name for names in spec.files.values() for name in names)
    if path.is_dir():
        split = split or spec.default_split
        found = _search(path, spec.files[split])
        if not found:
            raise DataError(f"{path}: no {spec.name} file ({', '.join(spec.files[split])}) in this folder")
        depth = len(found[0].relative_to(path).parts)
        if len(found) > 1 and len(found[1].relative_to(path).parts) == depth:
            raise DataError(f"{path}: several {spec.name} files; pass one: {', '.join(map(str, found))}")
        return found[0], split
    if not path.is_file():
        raise DataError(f"{path}: no such file or directory (expected a {spec.name} file: {expected})")
    named = spec.split_of(path.name)
    if split is not None and named is not None and named != split:
        raise DataError(f"{path}: the file name says split {named!r}, but split={split!r} was asked for")
    if split is None and named is None and spec.split_sets_labels and len(spec.files) > 1:
        raise DataError(
            f"{path}: the split decides {spec.name}'s labels and the file name does not give it; "
            f"pass split= (one of: {', '.join(spec.files)})"
        )
    return path, split or named or spec.default_split


def _read_file(path: Path) -> tuple[Source, list[str] | None]:
    """The rows and, for tabular files, the columns (JSON rows are checked one by one)."""
    name, suffix = str(path), path.suffix.lower()
    if suffix == ".csv":
        text = read_text(path)
        header = _csv_header(text)
        if not header:
            raise DataError(f"{name}: the file is empty")
        return Source(name, path.stem, "line", csv_rows(text)), header
    if suffix == ".jsonl":
        return Source(name, path.stem, "line", jsonl_rows(read_text(path))), None
    if suffix == ".json":
        return Source(name, path.stem, "line", json_list_rows(read_text(path), name)), None
    if suffix == ".parquet":
        import pyarrow.parquet as pq  # comes with datasets

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises OSError and its own ArrowInvalid
            raise DataError(f"{name}: not a readable parquet file ({exc})") from exc
        rows = (Row(i, row) for i, row in enumerate(table.to_pylist()))
        return Source(name, path.stem, "row", rows), list(table.column_names)
    raise DataError(
        f"{name}: unsupported file type {suffix or '(none)'}; use .csv, .json, .jsonl or .parquet"
    )


def _csv_header(text: str) -> list[str]:
    for cells in csv.reader(io.StringIO(text, newline="")):
        if any(cell.strip() for cell in cells):
            return [cell.strip() for cell in cells]
    return []


def _hub(spec: BenchmarkSpec, split: str) -> tuple[Source, list[str], str]:
    local = f"download {spec.url} and pass path= to the file or its folder"
    if spec.hub is None:
        raise DataError(f"{spec.name}: no Hugging Face hub copy is registered; {local}")
    repo, hub_split = spec.hub.repo, spec.hub.splits.get(split)
    if hub_split is None:
        raise DataError(f"{spec.name}: split {split!r} is not on the hub copy; {local}")
    import datasets  # heavy; only needed for this kind of source

    try:
        loaded = datasets.load_dataset(repo, spec.hub.config, split=hub_split)
    except Exception as exc:  # the hub raises many kinds; all mean "could not get it"
        raise DataError(
            f"{spec.name}: loading {repo} from the Hugging Face hub failed (offline, gated, or moved?): "
            f"{type(exc).__name__}: {exc}. To work offline, {local}"
        ) from exc
    rows = (Row(i, row) for i, row in enumerate(loaded))
    return (
        Source(f"{repo}:{hub_split}", repo.rpartition("/")[2], "row", rows),
        list(loaded.column_names),
        split,
    )


def _column_map(spec: BenchmarkSpec, present: Iterable[str]) -> dict[str, str]:
    """Spec column -> the name this source uses; ``ValueError`` names what is missing."""
    have = list(present)
    mapping: dict[str, str] = {}
    for column in (*spec.columns, *spec.optional):
        for candidate in (column, *spec.aliases.get(column, ())):
            if candidate in have:
                mapping[column] = candidate
                break
    missing = [c for c in spec.columns if c not in mapping]
    if missing:
        raise ValueError(
            f"missing column(s) {', '.join(map(repr, missing))} needed for benchmark {spec.name!r} "
            f"(columns present: {', '.join(map(str, have)) or '(none)'})"
        )
    return mapping


def _records(
    spec: BenchmarkSpec,
    src: Source,
    columns: list[str] | None,
    split: str,
    limit: int | None,
    include_copyright: bool,
) -> list[PromptRecord]:
    """Convert every row, collecting each bad row's problem with its file and line."""
    try:
        shared = _column_map(spec, columns) if columns is not None else None
    except ValueError as exc:
        raise DataError(f"{src.name}: {exc}") from None
    records: list[PromptRecord] = []
    problems = RowProblems()
    count = 0

    def convert(value: Any, index: int) -> PromptRecord | None:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected an object with columns, got {type(value).__name__}")
        mapping = shared if shared is not None else _column_map(spec, value)
        values = {column: value.get(actual) for column, actual in mapping.items()}
        return spec.convert(BenchmarkRow(values, index, split, include_copyright))

    for row in src.rows:
        if limit is not None and len(records) >= limit:
            break
        index, count = count, count + 1
        where = src.where(row.number)
        record = problems.convert(where, row, partial(convert, index=index))
        if record is not None and problems.unique(where, record.id):
            records.append(record)
    if count == 0:
        raise DataError(f"{src.name}: no rows")
    problems.raise_if_any(src.name)
    return records
