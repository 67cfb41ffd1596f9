"""`citebot eval` says which retrieval mode did best and whether syndicated copies were collapsed."""

from __future__ import annotations

from bot.evaluation.metrics import QuestionResult, summarise
from bot.evaluation.questions import EvalQuestion, Kind
from bot.evaluation.run import ALL_MODES, EvalReport
from bot.models import RetrievalMode
from bot.render.evaluation import mode_note, render_report, syndication_note

QUESTION = EvalQuestion(question="who denied it?", evidence=("denied",), kind=Kind.ANSWERABLE, line=1)


def result(mode: RetrievalMode, quoted: tuple[str, ...]) -> QuestionResult:
    return QuestionResult(QUESTION, mode, bool(quoted), quoted, len(quoted), None, None, 0.9, 0.01)


def report(*results: QuestionResult) -> EvalReport:
    modes = tuple(summarise(results, mode) for mode in ALL_MODES)
    return EvalReport("q.jsonl", "first_cut", 0.5, None, modes, results)


def test_the_best_mode_is_named_and_a_tie_says_the_questions_cannot_tell() -> None:
    hybrid_wins = report(
        result(RetrievalMode.HYBRID, ("Moscow denied it.",)),
        result(RetrievalMode.DENSE, ("Nothing here.",)),
        result(RetrievalMode.LEXICAL, ("Nothing here.",)),
    )
    assert (
        mode_note(hybrid_wins)
        == "modes: hybrid quotes the right sentence first most often (100.0%; lexical 0.0%, dense 0.0%)"
    )
    tie = report(*(result(mode, ("Moscow denied it.",)) for mode in ALL_MODES))
    assert "do not tell them apart" in mode_note(tie)
    assert mode_note(tie) in render_report(tie) and syndication_note(tie) in render_report(tie)


def test_an_answer_quoting_one_sentence_twice_is_counted_as_uncollapsed_syndication() -> None:
    twice = report(
        result(RetrievalMode.HYBRID, ("Moscow denied it.", "moscow  denied it.")),
        result(RetrievalMode.DENSE, ("Moscow denied it.", "Moscow denied it.")),
        result(RetrievalMode.LEXICAL, ()),
    )
    assert syndication_note(twice).startswith("syndication: 1 of 1 hybrid answers quote one sentence twice")
