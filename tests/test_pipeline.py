"""End to end through Engine.ask with the real model on the shipped article."""

import pytest

from bot.errors import QuestionError
from bot.models import RetrievalMode
from bot.pipeline import MAX_QUESTION_CHARS, Engine, check_question
from tests.conftest import DENIALS


def test_who_denied_the_wagner_claims_quotes_a_denial(engine: Engine) -> None:
    answer = engine.ask("who denied the Wagner claims?")
    assert answer.answered
    first = answer.citations[0]
    assert any(denial in first.sentence for denial in DENIALS), first.sentence
    assert first.passage != first.sentence or len(first.passage) > 40
    assert first.document == "000_a252677522aeadfb.txt"


@pytest.mark.parametrize("question", [
    "How do I bake sourdough bread?",
    "What is the capital of Australia?",
    "how do i reset my router password",
])
def test_off_topic_questions_are_not_answered(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert not answer.answered and answer.citations == ()


def test_answers_are_deterministic(engine: Engine) -> None:
    assert engine.ask("who is Haftar?") == engine.ask("who is Haftar?")


def test_the_calibrated_threshold_is_loaded_from_the_index(engine: Engine, shipped_settings) -> None:
    assert engine.min_score == engine.info.min_score
    strict = Engine(shipped_settings.model_copy(update={"min_score": 0.999999}),
                    engine._retriever.store, engine.embedder)
    assert not strict.ask("who denied the Wagner claims?").answered


def test_a_thread_question_is_answered_with_its_context(engine: Engine) -> None:
    answer = engine.ask("and what did the Kremlin say?", context="who denied the Wagner claims?")
    assert answer.answered


@pytest.mark.parametrize("mode", list(RetrievalMode))
def test_every_retrieval_mode_returns_ranked_passages(engine: Engine, mode: RetrievalMode) -> None:
    passages = engine.search("how many planes did the Pentagon count?", mode, limit=5)
    assert 0 < len(passages) <= 5
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\x00\x07\x1b"])
def test_an_empty_question_is_refused_clearly(engine: Engine, question: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        engine.ask(question)


def test_a_huge_question_is_refused_clearly(engine: Engine) -> None:
    with pytest.raises(QuestionError, match=f"{MAX_QUESTION_CHARS:,}"):
        engine.ask("why " * 25_000)


@pytest.mark.parametrize("question", [
    "谁否认了瓦格纳的说法？",
    "Кто опроверг заявления о Вагнере?",
    "who\x00 denied\x1b[31m the Wagner\u200b claims?",
    'NEAR("wagner" denied) OR * AND -claims: "unbalanced',
    "🙂🙂🙂",
])
def test_questions_in_other_scripts_or_with_control_characters_get_an_answer_or_abstain(
        engine: Engine, question: str) -> None:
    engine.ask(question)


def test_control_characters_become_spaces() -> None:
    assert check_question("who\x00denied\x1b the\u200bclaims?\r\n") == "who denied the claims?"
