"""The thresholds and weights a reply is judged by: damaged files and settings out of range are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import ModelError, SettingsError
from bot.read import linear, thresholds
from bot.read.linear import LinearScorer
from bot.read.thresholds import load_thresholds
from bot.settings import Settings, load_settings

DAMAGED = {
    "not json": "garbage",
    "cut short": "{",
    "a word for a number": json.dumps({"reader": "high", "first_cut": {"answer": 0.2, "support": 0.2}}),
    "not a number": json.dumps({"reader": {"answer": float("nan"), "support": 0.2}}),
    "above one": json.dumps({"reader": {"answer": 2, "support": 0.2}}),
    "below zero": json.dumps({"reader": {"answer": -1, "support": 0.2}}),
    "a field missing": json.dumps({"reader": {"answer": 0.2}}),
    "relevance above one": json.dumps({"reader": {"answer": 0.2, "support": 0.2, "relevance": 1.5}}),
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_thresholds_file_is_one_line_saying_how_to_restore_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelError, match=r"git checkout -- bot/read/thresholds\.json") as raised:
        load_thresholds("reader", path=path)
    assert "\n" not in str(raised.value)


def test_a_missing_thresholds_file_says_how_to_restore_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing.*git checkout -- bot/read/thresholds\.json"):
        load_thresholds("reader", path=tmp_path / "thresholds.json")


@pytest.mark.parametrize("content", ["garbage", "{", json.dumps({"weights": {}}), "[]"])
def test_damaged_first_cut_weights_are_one_line_saying_how_to_restore_them(tmp_path: Path, content: str) -> None:
    path = tmp_path / "linear.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelError, match=r"git checkout -- bot/read/linear\.json"):
        LinearScorer.load(path)
    with pytest.raises(ModelError, match=r"missing.*git checkout -- bot/read/linear\.json"):
        LinearScorer.load(tmp_path / "nowhere.json")


@pytest.mark.parametrize("value", ["nan", "-1", "5", "2", "inf", "-inf"])
def test_citebot_min_score_outside_zero_to_one_is_refused_by_name(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_MIN_SCORE", value)
    with pytest.raises(SettingsError, match="CITEBOT_MIN_SCORE"):
        load_settings()


def test_the_shipped_thresholds_load_for_both_judges_and_the_setting_overrides_the_answer_one() -> None:
    for judge in ("reader", "first_cut"):
        loaded = load_thresholds(judge)
        assert 0 < loaded.answer < 1 and 0 < loaded.support <= 1 and 0 < loaded.answer_words <= 1
    overridden = load_thresholds("reader", min_score=0.0)
    assert overridden.answer == 0.0 and overridden.source == "CITEBOT_MIN_SCORE"


@pytest.mark.parametrize("damaged", ["thresholds", "weights"])
def test_ask_with_a_damaged_file_prints_one_line_and_no_traceback(
    damaged: str, fake_settings: Settings, hashing_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    if damaged == "thresholds":
        monkeypatch.setattr(thresholds, "THRESHOLDS_FILE", broken)
    else:
        monkeypatch.setattr(linear, "WEIGHTS_FILE", broken)
    environment = {
        "CITEBOT_MODEL": hashing_model,
        "CITEBOT_INDEX": str(fake_settings.index),
        "CITEBOT_DOCUMENTS": str(fake_settings.documents),
        "CITEBOT_READER": "0",
    }
    result = CliRunner().invoke(main, ["ask", "who denied the Wagner claims?"], env=environment)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "git checkout" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
