"""The read stage: the first cut, the reader's verdicts and answer words, and the model's files.

The fast tests use a keyword stand-in for the reader (``tests.fakes.KeywordReader``); the slow ones
load the shipped reader.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.engine import Engine
from bot.errors import ModelError
from bot.read.encoding import MAX_TITLE_TOKENS, MAX_TOKENS, ReaderCandidate, encode_pairs, load_tokenizer
from bot.read.features import FEATURES
from bot.read.linear import WEIGHTS_FILE, LinearScorer
from bot.read.reader import MODEL_FOLDER, Reader, TokenSpan, best_span
from bot.read.stage import READ_CANDIDATES
from bot.render.explain import Explained, outcome
from bot.render.terminal import render_json
from bot.settings import Settings
from tests.fakes import HashingEmbedder, KeywordReader

DENIED = "who denied the Wagner claims?"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(MODEL_FOLDER / "tokenizer.json")


def test_the_candidate_is_marked_and_its_context_is_trimmed_to_fit(tokenizer) -> None:
    long = "word " * 200
    item = encode_pairs(tokenizer, "who denied it?", [ReaderCandidate(long, "Russia denied the claims.", long)])[0]
    assert len(item.ids) == MAX_TOKENS
    marked = [position for position, kind in enumerate(item.types) if kind == 1]
    assert marked == list(range(item.candidate_start, item.candidate_start + len(item.candidate_offsets)))
    spans = [("Russia denied the claims."[a:b]) for a, b in item.candidate_offsets]
    assert spans == ["russia", "denied", "the", "claims", "."] or spans == ["Russia", "denied", "the", "claims", "."]


def test_a_sentence_without_neighbours_still_reads(tokenizer) -> None:
    item = encode_pairs(tokenizer, "q?", [ReaderCandidate("", "Alone.", "")])[0]
    assert item.ids[0] == tokenizer.token_to_id("[CLS]") and item.ids[-1] == tokenizer.token_to_id("[SEP]")
    assert sum(item.types) == len(item.candidate_offsets) == 2


def test_the_title_says_what_the_passage_is_about_and_is_trimmed(tokenizer) -> None:
    candidate = ReaderCandidate("Fighters were recruited.", "Russia has denied the allegations.", "", "Wagner in Libya")
    item = encode_pairs(tokenizer, "who denied the Wagner claims?", [candidate])[0]
    assert tokenizer.decode(list(item.ids), skip_special_tokens=False) == (
        "[CLS] who denied the wagner claims? [SEP] wagner in libya [SEP] fighters were recruited. "
        "russia has denied the allegations. [SEP]"
    )
    assert tokenizer.decode(list(item.ids[item.candidate_start :][: len(item.candidate_offsets)])) == (
        "russia has denied the allegations."
    )
    long = encode_pairs(tokenizer, "q?", [ReaderCandidate("", "Alone.", "", "headline " * 50)])[0]
    assert long.ids.count(tokenizer.token_to_id("headline")) == MAX_TITLE_TOKENS


def test_best_span_stays_inside_the_candidate_and_in_order() -> None:
    starts = np.array([9.0, 0.0, 1.0, 5.0, 0.0, 9.0])
    ends = np.array([9.0, 0.0, 3.0, 0.0, 4.0, 9.0])
    assert best_span(starts, ends, first=1, count=4) == TokenSpan(2, 3, 9.0)  # tokens 3..4 of the sequence
    assert best_span(starts, ends, first=1, count=4, longest=1) == TokenSpan(2, 2, 5.0)
    assert best_span(starts, ends, first=1, count=0) is None


class ScriptedSession:
    """Stands in for an onnxruntime session: the answer logit and span logits are given."""

    def __init__(self, answer: float, no_answer: float, span: float) -> None:
        self.answer, self.no_answer, self.span = answer, no_answer, span

    def run(self, _outputs, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.fed = feeds["input_ids"]
        rows, width = feeds["input_ids"].shape
        starts = np.full((rows, width), -1e4, dtype=np.float32)
        ends = starts.copy()
        starts[:, 0] = ends[:, 0] = self.no_answer / 2
        first = feeds["token_type_ids"].argmax(axis=1)  # the candidate's first token
        starts[np.arange(rows), first] = ends[np.arange(rows), first] = self.span / 2
        return [np.full(rows, self.answer, dtype=np.float32), starts, ends]


@pytest.mark.parametrize(("no_answer", "span", "words"), [(0.0, 6.0, "Russia"), (8.0, 6.0, None)])
def test_answer_words_only_when_a_span_outscores_no_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_answer: float, span: float, words: str | None
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(MODEL_FOLDER, folder, ignore=shutil.ignore_patterns("*.onnx"))
    settings = json.loads((folder / "reader.json").read_text())
    settings["calibration"] = {"scale": 1.0, "gap_scale": 0.5, "offset": 0.0}
    (folder / "reader.json").write_text(json.dumps(settings))
    monkeypatch.setattr("bot.read.reader.cpu_session", lambda *_: ScriptedSession(1.0, no_answer, span))
    sentence = "Russia denied the claims."
    (reading,) = Reader(folder).read("q?", [ReaderCandidate("", sentence, "")])
    found = None if reading.answer is None else sentence[reading.answer.start : reading.answer.end]
    assert found == words
    assert reading.probability == pytest.approx(1 / (1 + np.exp(-(1.0 + 0.5 * (span - no_answer)))))


@pytest.mark.parametrize("titles", [True, False])
def test_a_reader_trained_without_titles_reads_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokenizer, titles: bool
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(MODEL_FOLDER, folder, ignore=shutil.ignore_patterns("*.onnx"))
    settings = json.loads((folder / "reader.json").read_text())
    settings["titles"] = titles
    (folder / "reader.json").write_text(json.dumps(settings))
    session = ScriptedSession(1.0, 0.0, 6.0)
    monkeypatch.setattr("bot.read.reader.cpu_session", lambda *_: session)
    Reader(folder).read("q?", [ReaderCandidate("", "Russia denied the claims.", "", "Wagner in Libya")])
    assert ("wagner in libya" in tokenizer.decode(list(session.fed[0]))) is titles


def test_the_first_cut_reads_its_weights_by_name(tmp_path: Path) -> None:
    scorer = LinearScorer.load()
    assert len(scorer.weights) == len(FEATURES)
    fitted = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert scorer.weights[FEATURES.index("passage")] == fitted["weights"]["passage"]
    shuffled = tmp_path / "linear.json"
    fitted["weights"] = dict(reversed(list(fitted["weights"].items())))
    shuffled.write_text(json.dumps(fitted), encoding="utf-8")
    assert LinearScorer.load(shuffled) == scorer, "order in the file does not matter, names do"
    del fitted["weights"]["length"]
    shuffled.write_text(json.dumps(fitted), encoding="utf-8")
    with pytest.raises(ModelError, match="length"):
        LinearScorer.load(shuffled)


def test_the_reader_decides_and_its_answer_words_are_verbatim(fake_settings: Settings) -> None:
    reader = KeywordReader("denied")
    engine = Engine.open(fake_settings, HashingEmbedder(), reader=reader)
    answer = engine.ask(
        DENIED,
    )
    assert answer.answered and answer.confidence == pytest.approx(0.9)
    assert all("denied" in citation.sentence.casefold() for citation in answer.citations)
    texts = {article.document: article.text for article in engine.articles()}
    spans = [citation.answer for citation in answer.citations if citation.answer]
    assert spans, "the stand-in finds capitalised words in the denials"
    for citation in answer.citations:
        if citation.answer:
            assert texts[citation.document][citation.answer.start : citation.answer.end] == citation.answer.text
            assert citation.start <= citation.answer.start < citation.answer.end <= citation.end
    record = json.loads(render_json(answer))
    first = record["citations"][0]
    assert set(first["answer"] or {}) in ({"text", "start", "end"}, set())
    ((asked, read),) = reader.read_calls
    assert asked == DENIED and 1 <= read <= READ_CANDIDATES + 2, "the first cut's best few, in one batch"


def test_nothing_the_reader_accepts_means_an_honest_abstention(fake_settings: Settings) -> None:
    engine = Engine.open(fake_settings, HashingEmbedder(), reader=KeywordReader("zeppelin"))
    answer = engine.ask("How many civilians have been killed in the Libyan war?")
    assert not answer.answered and answer.citations == ()
    assert answer.confidence == pytest.approx(0.01), "the best verdict is kept for coverage-gap records"


def test_the_reader_reads_a_follow_up_with_its_thread_and_nothing_without_one(fake_settings: Settings) -> None:
    reader = KeywordReader("denied")
    engine = Engine.open(fake_settings, HashingEmbedder(), reader=reader)
    assert not engine.ask("why?").answered and reader.read_calls == [], "no word that carries meaning"
    assert engine.ask("why?", context=DENIED).answered
    assert [asked for asked, _ in reader.read_calls] == [f"{DENIED}\nwhy?"]


def test_a_question_no_sentence_touches_is_not_read(fake_settings: Settings) -> None:
    reader = KeywordReader("denied")
    engine = Engine.open(fake_settings, HashingEmbedder(), reader=reader)
    engine.thresholds = replace(engine.thresholds, relevance=1.0)
    trace = engine.trace(DENIED)
    assert not trace.answer.answered and reader.read_calls == [], "below the relevance floor: off-topic"
    assert trace.judged and all(sentence.probability is None for sentence in trace.judged)
    why = outcome(Explained(trace, engine.thresholds, engine.judge))
    assert why.startswith("abstained: off-topic, the first cut's best") and "nothing was read" in why
    engine.thresholds = replace(engine.thresholds, relevance=0.0)
    assert engine.ask(DENIED).answered


def test_without_a_reader_the_first_cut_decides(fake_settings: Settings) -> None:
    answer = Engine.open(fake_settings, HashingEmbedder(), reader=None).ask(DENIED)
    assert answer.answered
    assert all(citation.answer is None for citation in answer.citations)


def test_a_missing_or_damaged_model_says_how_to_restore_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing.*git checkout -- bot/read/model"):
        Reader(tmp_path / "nowhere").check()
    damaged = tmp_path / "model"
    shutil.copytree(MODEL_FOLDER, damaged)
    (damaged / "reader.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"damaged.*train_reader\.py"):
        Reader(damaged).read("q?", [ReaderCandidate("", "s", "")])


@pytest.mark.slow
def test_the_shipped_reader_answers_with_verbatim_words(shipped_settings, embedder) -> None:
    engine = Engine.open(shipped_settings, embedder, reader=Reader())
    texts = {article.document: article.text for article in engine.articles()}
    for citation in engine.ask(
        DENIED,
    ).citations:
        if citation.answer:
            assert texts[citation.document][citation.answer.start : citation.answer.end] == citation.answer.text
