"""`citebot ask --explain`: the trace of a question as text and as a JSON object, and what `-v` logs."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.cli.session import Asker
from bot.engine import Engine
from bot.library import Library
from bot.render.explain import Explained, explain_record, outcome, render_explain_text
from bot.settings import Settings
from tests.conftest import FAKE_ANSWERABLE, make_settings
from tests.fakes import HashingEmbedder, KeywordReader

UNANSWERABLE = "How do I bake sourdough bread?"


@pytest.fixture(scope="module")
def reading_engine(fake_settings: Settings) -> Engine:
    """The fast tier's index with a stand-in reader, so sentences have reader probabilities and answer words."""
    return Engine.open(fake_settings, HashingEmbedder(), reader=KeywordReader("denied"))


def explained(engine: Engine, question: str, context: str | None = None) -> Explained:
    trace = engine.trace(question, context)
    return Explained(trace, trace.thresholds or engine.thresholds, engine.judge, context)


def test_the_text_shows_the_outcome_the_threshold_and_where_it_came_from(reading_engine: Engine) -> None:
    text = render_explain_text(explained(reading_engine, "who denied the allegations?"), width=100)
    lines = text.splitlines()
    shipped = reading_engine.thresholds.answer
    assert lines[0] == f"Why: answered: 0.90 ≥ {shipped:.2f}"
    assert f"Threshold: {shipped:g}, from bot/read/thresholds.json (reader)." in text
    assert "Judged by the trained reader." in text
    assert "    rank  dense  lexical  article" in lines
    assert re.search(r"^ +1 +(\d+|-) +(\d+|-)  \S+\.(md|txt)$", text, re.MULTILINE)
    assert re.search(r"^    0\.900 +0\.\d{3} +0\.900  000_a252677522aeadfb\.txt: Russia has .* \[answer: ", text, re.M)
    assert all(len(line) <= 100 for line in lines)


def test_an_abstention_names_the_best_score_the_threshold_and_its_article(fake_engine: Engine) -> None:
    why = explained(fake_engine, UNANSWERABLE)
    assert not why.trace.answer.answered
    best = why.trace.read[0]
    assert outcome(why) == f"abstained: best {best.score:.2f} < 0.26, from {best.article.document}"


def test_a_question_with_nothing_to_look_for_says_so(fake_engine: Engine) -> None:
    assert outcome(explained(fake_engine, "why?")) == "abstained: no sentence of the passages found could be judged"


def test_the_json_object_holds_the_answer_and_every_judged_sentence(reading_engine: Engine) -> None:
    why = explained(reading_engine, "who denied it?", context="the Wagner claims in Libya")
    record = json.loads(json.dumps(explain_record(why)))
    assert {"question", "answered", "citations"} <= set(record)
    trace = record["explain"]
    assert trace["outcome"].startswith("answered: ") and trace["context"] == "the Wagner claims in Libya"
    assert trace["judge"] == "reader"
    shipped = reading_engine.thresholds
    assert trace["threshold"] == {
        "answer": shipped.answer,
        "support": shipped.support,
        "answer_words": shipped.answer_words,
        "relevance": shipped.relevance,
        "source": "bot/read/thresholds.json (reader)",
    }
    assert [passage["rank"] for passage in trace["retrieved"]] == list(range(1, len(trace["retrieved"]) + 1))
    assert any(p["dense_rank"] is not None for p in trace["retrieved"])
    assert any(p["lexical_rank"] is not None for p in trace["retrieved"])
    for passage in trace["retrieved"]:
        assert set(passage) == {"rank", "dense_rank", "lexical_rank", "document", "title", "start", "end", "passage"}
    read = [sentence for sentence in trace["sentences"] if sentence["probability"] is not None]
    assert read and len(trace["sentences"]) == len(why.trace.judged)
    for sentence in trace["sentences"]:
        assert any(
            sentence["sentence"] in p["passage"] and sentence["document"] == p["document"] for p in trace["retrieved"]
        )
        assert 0 <= sentence["first_cut"] <= 1
        if sentence["answer"] is not None:
            assert sentence["answer"]["text"] in sentence["sentence"]


@pytest.fixture
def citebot(hashing_model: str, fake_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in [name for name in os.environ if name.startswith("CITEBOT_")]:
        monkeypatch.delenv(name)
    for name, value in (
        ("MODEL", hashing_model),
        ("DOCUMENTS", fake_settings.documents),
        ("INDEX", fake_settings.index),
    ):
        monkeypatch.setenv(f"CITEBOT_{name}", str(value))
    return CliRunner()


def test_ask_explain_prints_the_answer_then_why(citebot: CliRunner) -> None:
    result = citebot.invoke(main, ["ask", "--explain", FAKE_ANSWERABLE])
    assert result.exit_code == 0, result.output
    answer, why = result.stdout.split("\n\nWhy: ")
    assert answer.startswith("[1] ") and why.startswith("answered: ")
    assert "Passages retrieved (12), by fused rank:" in why


def test_ask_explain_json_is_one_object_with_the_trace(citebot: CliRunner) -> None:
    result = citebot.invoke(main, ["ask", "--explain", "--json", UNANSWERABLE])
    record = json.loads(result.stdout)
    assert record["answered"] is False and record["citations"] == []
    assert record["explain"]["outcome"].startswith("abstained: best ")
    assert record["explain"]["threshold"]["source"] == "bot/read/thresholds.json (first_cut)"
    assert record["explain"]["sentences"][0]["probability"] is None, "the first cut judged alone"


def test_verbose_logs_the_steps_with_the_time(
    fake_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="citebot"):
        Asker(Library(make_settings(tmp_path, tmp_path / "index"), fake_engine)).ask(FAKE_ANSWERABLE)
    logged = [record.getMessage() for record in caplog.records if record.name == "citebot"]
    assert logged[0] == "Retrieved 12 passages"
    assert re.fullmatch(r"Judged \d+ sentences \(0 read by the reader\)", logged[1])
    assert logged[2] == "Threshold 0.26 from bot/read/thresholds.json (first_cut)"
    assert re.fullmatch(r"Answered: \d\.\d\d ≥ 0\.26 \(\d+ ms in all\)", logged[3])
