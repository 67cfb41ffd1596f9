"""`citebot eval`: metrics on hand-made results, the question-file reader, the run loop on a fake engine,
and the real command on a tiny question file over the shipped article."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bot.answer import fold_case_and_space
from bot.cli import main
from bot.engine import Trace
from bot.errors import CitebotError
from bot.evaluation.calibration import calibrate_thresholds
from bot.evaluation.metrics import (
    QuestionResult,
    contains_evidence,
    first_hit_rank,
    is_hit,
    percentile,
    rate,
    summarise,
)
from bot.evaluation.questions import EvalQuestion, Kind, load_questions
from bot.evaluation.run import ALL_MODES, question_result, run_eval
from bot.models import Answer, Citation, IndexedArticle, Passage, RetrievalMode, Sentence
from bot.render.evaluation import render_json, render_misses, render_report
from bot.retrieve.search import RetrievedPassage

ROOT = Path(__file__).resolve().parents[1]
SEED = "000_a252677522aeadfb.txt"
HYBRID, DENSE, LEXICAL = RetrievalMode.HYBRID, RetrievalMode.DENSE, RetrievalMode.LEXICAL


def question(text: str, evidence: tuple[str, ...] = ("answer",), kind: Kind | None = None) -> EvalQuestion:
    kind = kind or (Kind.ANSWERABLE if evidence else Kind.NEAR_TOPIC)
    return EvalQuestion(question=text, evidence=evidence, kind=kind, line=1)


def result(
    asked: EvalQuestion,
    quoted: tuple[str, ...] = (),
    cited: int | None = None,
    passage_rank: int | None = 1,
    top_score: float | None = 0.5,
    seconds: float = 0.01,
    mode: RetrievalMode = HYBRID,
) -> QuestionResult:
    return QuestionResult(
        question=asked,
        mode=mode,
        answered=bool(quoted),
        quoted=quoted,
        cited=min(len(quoted), 3) if cited is None else cited,
        passage_rank=passage_rank,
        retrieved_sentence=quoted[0] if quoted else None,
        top_score=top_score,
        seconds=seconds,
    )


# --- hits -------------------------------------------------------------------------------------------


def test_folding_ignores_case_and_runs_of_whitespace() -> None:
    assert fold_case_and_space("  Russia HAS\n\tdenied  ") == "russia has denied"


@pytest.mark.parametrize(
    ("sentence", "evidence", "hit"),
    [
        ("Russia has denied the allegations, and claimed...", ("russia HAS  denied",), True),
        ("Russia has\ndenied the allegations.", ("Russia has denied",), True),
        ("Well, there is no denying it now.", ("Well, there is no denying it now. We watched",), True),
        ("The press release.", ("Russia has denied", "press release"), True),
        ("It was.", ("so it was. then",), True),
        ("a", ("answer",), False),
        ("nswer", ("answer",), False),
        ("Moscow said nothing.", ("Russia has denied",), False),
        ("", ("anything",), False),
        ("   ", ("anything",), False),
        ("Some sentence.", (), False),
    ],
)
def test_a_quoted_sentence_hits_by_containing_evidence_or_being_contained_in_it(
    sentence: str, evidence: tuple[str, ...], hit: bool
) -> None:
    assert is_hit(sentence, evidence) is hit


def test_a_passage_hits_only_by_containing_the_evidence() -> None:
    assert contains_evidence("One. Russia HAS denied it. Two.", ["russia has denied"])
    assert not contains_evidence("Russia", ["Russia has denied"])


def test_first_hit_rank_is_one_based_and_none_without_a_hit() -> None:
    assert first_hit_rank(["one", "two", "the answer here"], ["answer"]) == 3
    assert first_hit_rank(["one", "two"], ["answer"]) is None


# --- rates, percentiles ----------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))


def test_rate_is_none_when_nothing_counts() -> None:
    assert rate([True, False, True, True]) == 0.75
    assert rate([]) is None


# --- summarise --------------------------------------------------------------------------------------


def test_summarise_counts_abstentions_as_misses_and_splits_unanswerable_by_kind() -> None:
    results = [
        result(question("a"), ("the answer", "x", "y")),  # hit at 1
        result(question("b"), ("x", "the answer", "y")),  # hit at 2
        result(question("c"), ("x", "y", "z", "the answer"), cited=3, passage_rank=4),  # in "more": rank 4
        result(question("d"), (), passage_rank=None),  # abstained on an answerable question
        result(question("e", (), Kind.OFF_TOPIC), ()),  # abstained: right
        result(question("f", (), Kind.NEAR_TOPIC), ("something",)),  # answered: wrong
        result(question("g", (), Kind.NEAR_TOPIC), ()),
        result(question("a"), ("x",), mode=DENSE),  # another mode: not counted
    ]
    report = summarise(results, HYBRID)
    assert (report.answerable, report.unanswerable, report.off_topic, report.near_topic) == (4, 3, 1, 2)
    assert report.hit_at_1 == 0.25
    assert report.hit_at_3 == 0.5
    assert report.passage_hit_at_5 == 0.75
    assert report.mrr == pytest.approx((1 + 1 / 2 + 1 / 4 + 0) / 4)
    assert report.answered_rate == 0.75
    assert report.abstention_rate == pytest.approx(2 / 3)
    assert report.abstention_off_topic == 1.0
    assert report.abstention_near_topic == 0.5


def test_summarise_leaves_rates_unmeasured_when_a_set_has_no_such_questions() -> None:
    report = summarise([result(question("a"), ("the answer",), seconds=0.02)], HYBRID)
    assert report.abstention_rate is None and report.abstention_near_topic is None
    assert report.hit_at_1 == 1.0
    assert report.latency_p50_ms == pytest.approx(20.0)


# --- calibrate --------------------------------------------------------------------------------------


def scored(kind: Kind, score: float, mode: RetrievalMode = HYBRID) -> QuestionResult:
    evidence = ("answer",) if kind is Kind.ANSWERABLE else ()
    return result(question(f"{kind.value} {score}", evidence, kind), top_score=score, mode=mode)


def test_calibrate_keeps_answering_then_abstains_as_much_as_it_can() -> None:
    results = [
        *(scored(Kind.ANSWERABLE, s) for s in (0.8, 0.7, 0.6, 0.3)),
        *(scored(Kind.OFF_TOPIC, s) for s in (0.1, 0.2)),
        *(scored(Kind.NEAR_TOPIC, s) for s in (0.5, 0.65)),
    ]
    # Answering all four needs a threshold at most 0.3: the widest gap below it is (0.2, 0.3). Higher
    # thresholds abstain on more near-topic questions but leave answerable ones unanswered.
    assert calibrate_thresholds(results).answer == pytest.approx(0.25)
    # Content with 75 % answered, it also abstains on the near-topic question at 0.5.
    assert calibrate_thresholds(results, answered_at_least=0.75).answer == pytest.approx(0.55)


def test_calibrate_answers_first_even_where_an_off_topic_question_scores_high() -> None:
    results = [
        *(scored(Kind.ANSWERABLE, s) for s in (0.8, 0.7, 0.6)),
        scored(Kind.OFF_TOPIC, 0.75),
        scored(Kind.NEAR_TOPIC, 0.1),
    ]
    chosen = calibrate_thresholds(results)
    assert chosen.answer == pytest.approx(0.35), "abstaining on answerable questions is the worse failure"
    assert "100.0% answered, 50.0% abstained" in chosen.objective


def test_the_support_threshold_keeps_further_sentences_that_hold_the_evidence() -> None:
    answered = replace(
        scored(Kind.ANSWERABLE, 0.9), read_scores=(0.9, 0.6, 0.5, 0.2), read_hits=(True, True, False, False)
    )
    again = replace(scored(Kind.ANSWERABLE, 0.8), read_scores=(0.8, 0.4, 0.3), read_hits=(True, True, False))
    weak = scored(Kind.ANSWERABLE, 0.2)
    chosen = calibrate_thresholds([answered, again, weak, scored(Kind.NEAR_TOPIC, 0.1)])
    assert chosen.answer == pytest.approx(0.15)
    assert chosen.support == pytest.approx(0.35), "keeps both evidence sentences (0.6, 0.4) at the best F1"
    strict = calibrate_thresholds([answered, again, scored(Kind.NEAR_TOPIC, 0.7)])
    assert strict.support == strict.answer == pytest.approx(0.75), "a further citation must answer on its own"


def test_the_relevance_floor_lies_midway_between_off_topic_and_answerable_questions() -> None:
    def first_cut(kind: Kind, best: float) -> QuestionResult:
        return replace(scored(kind, 0.5), first_cut_best=best)

    results = [first_cut(Kind.ANSWERABLE, 0.3), first_cut(Kind.ANSWERABLE, 0.9), first_cut(Kind.OFF_TOPIC, 0.1)]
    near = first_cut(Kind.NEAR_TOPIC, 0.05)
    assert calibrate_thresholds([*results, near]).relevance == pytest.approx(0.2), "near-topic questions are read"
    overlapping = first_cut(Kind.OFF_TOPIC, 0.35)
    assert calibrate_thresholds([*results, overlapping]).relevance == pytest.approx(0.2), "it is read, 0.1 is not"
    alike = [*results[:2], overlapping]
    assert calibrate_thresholds(alike).relevance == 0.0, "every question read where no off-topic one is apart"


def test_calibrate_breaks_ties_by_the_widest_margin() -> None:
    results = [scored(Kind.ANSWERABLE, 0.9), scored(Kind.NEAR_TOPIC, 0.2), scored(Kind.NEAR_TOPIC, 0.3)]
    assert calibrate_thresholds(results).answer == pytest.approx(0.6)


def test_calibrate_refuses_mixed_modes_and_one_sided_sets() -> None:
    with pytest.raises(ValueError, match="one retrieval mode"):
        calibrate_thresholds([scored(Kind.ANSWERABLE, 0.9), scored(Kind.OFF_TOPIC, 0.1, DENSE)])
    with pytest.raises(ValueError, match="both"):
        calibrate_thresholds([scored(Kind.ANSWERABLE, 0.9)])


# --- reading question files -------------------------------------------------------------------------


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_questions_reads_kinds_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"question": "who?", "evidence": ["Townsend"]}',
        "",
        '{"question": "capital of Peru?", "evidence": []}',
        '{"question": "who won in 2021?", "evidence": [], "kind": "near_topic", "note": "extra is fine"}',
    )
    questions = load_questions(path)
    assert [q.kind for q in questions] == [Kind.ANSWERABLE, Kind.UNANSWERABLE, Kind.NEAR_TOPIC]
    assert [q.line for q in questions] == [1, 3, 4]
    assert questions[0].evidence == ("Townsend",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: expected an object"),
        ('{"evidence": []}', 'line 2: "question" must be'),
        ('{"question": "   ", "evidence": []}', 'line 2: "question" must be'),
        ('{"question": "q"}', 'line 2: "evidence" must be'),
        ('{"question": "q", "evidence": "Townsend"}', 'line 2: "evidence" must be'),
        ('{"question": "q", "evidence": [""]}', 'line 2: "evidence" must be'),
        ('{"question": "q", "evidence": [], "kind": "answerable"}', "needs evidence"),
        ('{"question": "q", "evidence": ["x"], "kind": "off_topic"}', "must have empty evidence"),
        ('{"question": "q", "evidence": [], "kind": "sideways"}', '"kind" must be one of'),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, '{"question": "fine", "evidence": ["x"]}', line)
    with pytest.raises(CitebotError, match=message) as error:
        load_questions(path)
    assert str(path) in str(error.value)


def test_a_missing_or_empty_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(CitebotError, match="not found"):
        load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(CitebotError, match="holds no questions"):
        load_questions(write(tmp_path, "", "  "))


# --- judge and run_eval on a fake engine ------------------------------------------------------------

ARTICLE = IndexedArticle(id="a1", document="a.txt", title="A", url=None, date=None, author=None, text="", passages=1)


def citation(sentence: str) -> Citation:
    return Citation(
        document="a.txt", title="A", url=None, date=None, passage=sentence, passage_start=0,
        sentence=sentence, start=0, end=len(sentence), score=0.9,
    )  # fmt: skip


def passage(sentence: str, score: float) -> Passage:
    return Passage(
        chunk_id=1, article=ARTICLE, start=0, end=len(sentence), text=f"{sentence} And more.", score=score,
        sentence=Sentence(0, len(sentence), sentence),
    )  # fmt: skip


def retrieved(sentence: str) -> RetrievedPassage:
    text = f"{sentence} And more."
    return RetrievedPassage(
        chunk_id=1, article=ARTICLE, start=0, end=len(text), text=text, rank=0,
        sentences=(Sentence(0, len(sentence), sentence),), vectors=np.zeros((1, 4), dtype=np.float32),
    )  # fmt: skip


class FakeEngine:
    """Answers from a table: question -> (ranked sentences, top score); abstains below min_score."""

    min_score = 0.5
    judge = "first_cut"

    def __init__(self, table: dict[str, tuple[list[str], float]]) -> None:
        self.table = table
        self.asked: list[tuple[str, RetrievalMode]] = []

    def trace(self, question: str, *, mode: RetrievalMode) -> Trace:
        self.asked.append((question, mode))
        sentences, score = self.table[question]
        read = tuple(passage(s, score) for s in sentences)
        found = tuple(retrieved(s) for s in sentences)
        if score < self.min_score:
            return Trace(found, read, Answer(question=question, answered=False, confidence=score))
        cited = tuple(citation(s) for s in sentences)
        answer = Answer(question=question, answered=True, citations=cited[:3], more=cited[3:6], confidence=score)
        return Trace(found, read, answer)


def test_a_question_result_records_what_an_abstention_quotes_as_nothing() -> None:
    asked = question("q", ("answer",))
    answered = question_result(
        asked, HYBRID, Trace((retrieved("x"),), (passage("x", 1),), Answer("q", True, (citation("the answer"),))), 0.1
    )
    assert (answered.quoted, answered.cited, answered.passage_rank) == (("the answer",), 1, None)
    abstained = question_result(asked, HYBRID, Trace((), (), Answer("q", False, (citation("the answer"),))), 0.1)
    assert abstained.quoted == () and abstained.retrieved_sentence is None


def test_run_eval_alternates_modes_per_question_after_an_untimed_warm_up() -> None:
    engine = FakeEngine({"one": (["the answer"], 0.9), "two": (["nothing"], 0.9)})
    questions = [question("one", ("answer",)), question("two", ("elsewhere",))]
    report = run_eval(engine, questions, ALL_MODES)
    warm_up = [("one", mode) for mode in ALL_MODES]
    assert engine.asked == warm_up + [(q, mode) for q in ("one", "two") for mode in ALL_MODES]
    assert [m.mode for m in report.modes] == list(ALL_MODES)
    assert all(m.hit_at_1 == 0.5 for m in report.modes)
    assert [r.top_score for r in report.results] == [0.9] * 6, "the answer's confidence is every result's top score"
    assert report.suggested_min_score is None
    assert report.min_score == 0.5


def test_run_eval_suggests_a_threshold_when_the_set_has_unanswerable_questions() -> None:
    engine = FakeEngine({"one": (["the answer"], 0.9), "off": (["weather"], 0.3)})
    questions = [question("one", ("answer",)), question("off", (), Kind.OFF_TOPIC)]
    report = run_eval(engine, questions, (HYBRID,))
    assert report.suggested_min_score == pytest.approx(0.6)
    assert report.modes[0].abstention_off_topic == 1.0


def test_render_text_and_json_show_every_metric_for_every_mode() -> None:
    engine = FakeEngine({"one": (["the answer"], 0.9), "off": (["weather"], 0.6)})
    questions = [question("one", ("answer",)), question("off", (), Kind.OFF_TOPIC)]
    report = run_eval(engine, questions, ALL_MODES, source="tiny.jsonl")
    text = render_report(report)
    labels = ("sentence hit@1", "sentence hit@3", "passage hit@5", "MRR", "answered", "abstained")
    labels += ("off-topic", "near-topic", "latency p50", "latency p95", "hybrid", "dense", "lexical")
    assert all(label in text for label in labels)
    figures = json.loads(render_json(report))
    assert set(figures["modes"]) == {"hybrid", "dense", "lexical"}
    assert figures["modes"]["hybrid"]["hit_at_1"] == 1.0
    assert figures["modes"]["hybrid"]["abstention_near_topic"] is None
    assert "'off'" in render_misses(report), "the answered off-topic question is listed"


# --- the real command -------------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path: Path, hashing_model: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A three-question file about the seed article, and an index folder that does not exist yet
    (built by the command on the hashing embedder)."""
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    documents = tmp_path / "documents"
    documents.mkdir()
    shutil.copy(ROOT / "documents" / SEED, documents / SEED)
    path = tmp_path / "tiny.jsonl"
    lines = [
        {"question": "Who denied the allegations?", "evidence": ["Russia has denied the allegations"]},
        {"question": "how many wagner people are in libya", "evidence": ["up to 1,200 people"]},
        {"question": "What is a good recipe for banana bread?", "evidence": [], "kind": "off_topic"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path, tmp_path / "index"


def citebot_eval(path: Path, index: Path, *extra: str) -> str:
    arguments = ["eval", str(path), "--documents", str(path.parent / "documents"), "--index", str(index), *extra]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(autouse=True)
def no_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command must not see a threshold set elsewhere."""
    monkeypatch.delenv("CITEBOT_MIN_SCORE", raising=False)


def test_citebot_eval_builds_a_missing_index_and_prints_the_metrics(tiny: tuple[Path, Path]) -> None:
    assert not tiny[1].exists()
    text = citebot_eval(*tiny)
    assert tiny[1].exists()
    assert "2 answerable, 1 unanswerable (1 off-topic, 0 near-topic)" in text
    for label in ("sentence hit@1", "sentence hit@3", "passage hit@5", "MRR", "latency p95"):
        assert label in text
    assert text.splitlines()[2].split() == ["hybrid", "dense", "lexical"]


def test_citebot_eval_json_parses(tiny: tuple[Path, Path]) -> None:
    figures = json.loads(citebot_eval(*tiny, "--json"))
    assert figures["questions"] == str(tiny[0])
    for mode in ("hybrid", "dense", "lexical"):
        assert 0.0 <= figures["modes"][mode]["hit_at_1"] <= 1.0
        assert figures["modes"][mode]["abstention_off_topic"] in (0.0, 1.0)
        assert figures["modes"][mode]["latency_p95_ms"] > 0


def test_citebot_eval_names_a_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{"question": "fine", "evidence": ["x"]}', '{"question": "no evidence"}')
    result = CliRunner().invoke(main, ["eval", str(path), "--index", str(tmp_path / "index")])
    assert result.exit_code == 1
    assert f"{path} line 2" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "index").exists(), "a bad question file is refused before any index is built"
