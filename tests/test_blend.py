"""The blend: the score that ranks and gates a read sentence weighs the reader's verdict against the first cut's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.errors import ModelError
from bot.read.blend import Blend
from bot.read.reader import MODEL_FOLDER, Reader
from bot.settings import Settings
from tests.fakes import HashingEmbedder, KeywordReader

DENIED = "who denied the Wagner claims?"


class BlendedKeywordReader(KeywordReader):
    """The keyword stand-in with a blend, as a reader whose reader.json records one."""

    def __init__(self, blend: Blend, *keywords: str) -> None:
        super().__init__(*keywords)
        self.blend = blend  # type: ignore[assignment]


def test_a_blend_that_weighs_the_reader_alone_keeps_its_probability() -> None:
    assert Blend(reader=1.0, first_cut=0.0, offset=0.0).probability(0.3, 0.9) == pytest.approx(0.3)


def test_the_first_cut_breaks_a_near_tie_of_the_reader() -> None:
    blend = Blend(reader=1.3, first_cut=1.2, offset=-0.5)
    assert blend.probability(0.20, 0.45) > blend.probability(0.22, 0.30)
    assert 0.0 < blend.probability(0.0, 0.0) < blend.probability(1.0, 1.0) < 1.0


@pytest.mark.parametrize(
    "value",
    [
        {"reader": 1.0, "first_cut": 1.0},
        {"reader": 1.0, "first_cut": "1", "offset": 0.0},
        {"reader": True, "first_cut": 1.0, "offset": 0.0},
        {"reader": float("nan"), "first_cut": 1.0, "offset": 0.0},
        [1.0, 1.0, 0.0],
    ],
)
def test_a_blend_that_is_not_three_named_numbers_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="blend"):
        Blend.from_json(value)


def test_the_read_stage_ranks_and_gates_by_the_blend_and_keeps_the_readers_own_verdict(
    fake_settings: Settings,
) -> None:
    first_cut_only = Blend(reader=0.0, first_cut=1.0, offset=0.0)
    engine = Engine.open(fake_settings, HashingEmbedder(), reader=BlendedKeywordReader(first_cut_only, "denied"))
    trace = engine.trace(DENIED)
    read = [sentence for sentence in trace.judged if sentence.reader is not None]
    assert {sentence.reader for sentence in read} == {0.9, 0.01}, "the keyword reader's own verdicts are kept"
    assert all(sentence.probability == pytest.approx(sentence.first_cut) for sentence in read)
    assert [s.first_cut for s in read] == sorted((s.first_cut for s in read), reverse=True)
    assert trace.read[0].score == pytest.approx(read[0].first_cut)


def test_a_reader_without_a_blend_judges_alone(fake_settings: Settings) -> None:
    trace = Engine.open(fake_settings, HashingEmbedder(), reader=KeywordReader("denied")).trace(DENIED)
    assert all(sentence.probability == sentence.reader for sentence in trace.judged if sentence.reader is not None)


def with_blend(tmp_path: Path, blend: object) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(MODEL_FOLDER, folder, ignore=shutil.ignore_patterns("*.onnx"))
    settings = json.loads((folder / "reader.json").read_text())
    settings["blend"] = blend
    (folder / "reader.json").write_text(json.dumps(settings))
    return folder


def test_the_reader_carries_the_blend_its_reader_json_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.read.reader.cpu_session", lambda *_: object())  # the session is not run
    folder = with_blend(tmp_path, {"reader": 1.3, "first_cut": 1.2, "offset": -0.5})
    assert Reader(folder).blend == Blend(1.3, 1.2, -0.5)


def test_a_damaged_blend_says_how_to_restore_the_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"damaged.*blend.*git checkout -- bot/read/model"):
        Reader(with_blend(tmp_path, {"reader": "heavy"})).check()
