"""End to end through ``Engine.ask``: the mechanics on the hashing embedder, the meaning with the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.engine import MAX_QUESTION_CHARS, Engine, check_question
from bot.errors import QuestionError
from bot.ingest.chunk import ChunkingSettings, chunk
from bot.models import RetrievalMode
from bot.read.thresholds import load_thresholds
from bot.settings import Settings
from tests.conftest import DENIALS, FAKE_ANSWERABLE, ROOT
from tests.fakes import HashingEmbedder


def test_the_first_cut_abstains_below_its_threshold_unless_citebot_min_score_says_otherwise(
    fake_engine: Engine, fake_settings: Settings
) -> None:
    assert fake_engine.min_score == load_thresholds("first_cut").answer
    assert fake_engine.ask(FAKE_ANSWERABLE).answered
    strict = Engine.open(fake_settings.model_copy(update={"min_score": 0.999999}), HashingEmbedder(), reader=None)
    assert strict.min_score == 0.999999
    assert not strict.ask(FAKE_ANSWERABLE).answered


@pytest.mark.parametrize("mode", list(RetrievalMode))
def test_every_retrieval_mode_returns_ranked_passages(fake_engine: Engine, mode: RetrievalMode) -> None:
    passages = fake_engine.search("how many planes did the Pentagon count?", mode, limit=5)
    assert 0 < len(passages) <= 5
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_a_follow_up_is_searched_with_the_question_it_follows(fake_engine: Engine) -> None:
    alone = fake_engine.search("why?")
    followed = fake_engine.search("why?", context="Israel joined the US propaganda campaign")
    assert followed and followed[0].sentence.text.startswith("Israel has joined the US propaganda campaign")
    assert not any(passage.sentence.text.startswith("Israel has joined") for passage in alone)


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\x00\x07\x1b"])
def test_an_empty_question_is_refused_clearly(fake_engine: Engine, question: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        fake_engine.ask(question)


def test_a_huge_question_is_refused_clearly(fake_engine: Engine) -> None:
    with pytest.raises(QuestionError, match=f"{MAX_QUESTION_CHARS:,}"):
        fake_engine.ask("why " * 25_000)


@pytest.mark.parametrize(
    "question",
    [
        "谁否认了瓦格纳的说法？",
        "Кто опроверг заявления о Вагнере?",
        "who\x00 denied\x1b[31m the Wagner\u200b claims?",
        'NEAR("wagner" denied) OR * AND -claims: "unbalanced',
        "🙂🙂🙂",
    ],
)
def test_questions_in_other_scripts_or_with_control_characters_get_an_answer_or_abstain(
    fake_engine: Engine, question: str
) -> None:
    """Nothing in the question breaks the engine: it echoes the question cleaned, decides by its threshold
    alone (FTS5 operators are words, not syntax), and whatever it cites is verbatim from the article."""
    answer = fake_engine.ask(question)
    assert answer.question == check_question(question)
    assert answer.answered == (answer.confidence >= fake_engine.min_score)
    texts = {article.document: article.text for article in fake_engine.articles()}
    for citation in answer.citations + answer.more:
        assert texts[citation.document][citation.start : citation.end] == citation.sentence


def test_control_characters_become_spaces() -> None:
    assert check_question("who\x00denied\x1b the\u200bclaims?\r\n") == "who denied the claims?"


ASK_IN_A_NEW_PROCESS = """
import dataclasses, json, sys
from pathlib import Path
from bot.engine import Engine
from bot.settings import Settings
from tests.fakes import HashingEmbedder
documents, index, model, fake = sys.argv[1:5]
settings = Settings(documents=Path(documents), index=Path(index), model=model, _env_file=None)
engine = Engine.open(settings, HashingEmbedder(), reader=None) if fake == "fake" else Engine.open(settings)
print(json.dumps([dataclasses.asdict(engine.ask(question)) for question in sys.argv[5:]], default=str))
"""


def answers_in_new_processes(settings: Settings, questions: list[str], fake: bool) -> list[list[dict]]:
    """Each question's whole answer, ``more`` included, from two fresh processes run side by side, each
    with its own hash seed (so sets and dicts of strings iterate in another order)."""
    arguments = [
        sys.executable,
        "-c",
        ASK_IN_A_NEW_PROCESS,
        str(settings.documents),
        str(settings.index),
        settings.model,
        "fake" if fake else "real",
        *questions,
    ]
    processes = [
        subprocess.Popen(
            arguments,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": str(seed)},
        )
        for seed in (1, 2)
    ]
    answers = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        answers.append(json.loads(stdout))
    return answers


DETERMINISM_QUESTIONS = ["who is Haftar?", FAKE_ANSWERABLE, "how many planes did the Pentagon count?"]


@pytest.mark.parametrize("tier", ["fake", pytest.param("real", marks=pytest.mark.slow)])
def test_two_processes_give_the_same_answers_to_the_last_detail(request: pytest.FixtureRequest, tier: str) -> None:
    settings: Settings = request.getfixturevalue("fake_settings" if tier == "fake" else "shipped_settings")
    first, second = answers_in_new_processes(settings, DETERMINISM_QUESTIONS, fake=tier == "fake")
    assert any(answer["more"] for answer in first), "the comparison must cover the sources kept for More"
    assert first == second


@pytest.mark.slow
def test_who_denied_the_wagner_claims_quotes_a_denial_in_its_whole_passage(engine: Engine) -> None:
    answer = engine.ask("who denied the Wagner claims?")
    assert answer.answered
    first = answer.citations[0]
    assert any(denial in first.sentence for denial in DENIALS), first.sentence
    assert first.document == "000_a252677522aeadfb.txt"
    [article] = [a for a in engine.articles() if a.document == first.document]
    assert first.passage in [passage.text for passage in chunk(article.text, ChunkingSettings())]


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "How do I bake sourdough bread?",
        "What is the capital of Australia?",
        "how do i reset my router password",
    ],
)
def test_off_topic_questions_are_not_answered(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert not answer.answered and answer.citations == ()


@pytest.mark.slow
def test_a_follow_up_that_means_nothing_alone_is_answered_from_its_thread(engine: Engine) -> None:
    assert not engine.ask("why?").answered
    answer = engine.ask("why?", context="What did Israel join?")
    assert answer.answered
    assert answer.citations[0].sentence.startswith("Israel has joined the US propaganda campaign")


@pytest.mark.slow
def test_the_reader_abstains_below_its_threshold_unless_citebot_min_score_says_otherwise(
    engine: Engine, shipped_settings: Settings
) -> None:
    assert engine.min_score == load_thresholds("reader").answer
    question = "who denied the Wagner claims?"
    assert engine.ask(question).answered
    strict = Engine.open(shipped_settings.model_copy(update={"min_score": 0.999999}), engine.embedder, engine.reader)
    assert not strict.ask(question).answered
