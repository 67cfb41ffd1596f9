"""`citebot stats` reports what the published index holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings
from bot.store.reading import Store


def stats(index: Path) -> dict[str, str]:
    result = CliRunner().invoke(main, ["stats", "--index", str(index)])
    assert result.exit_code == 0, result.output
    return {key: value.strip() for key, value in (line.split(":", 1) for line in result.output.splitlines())}


@pytest.fixture(autouse=True)
def no_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command must not see a threshold set elsewhere."""
    monkeypatch.delenv("CITEBOT_MIN_SCORE", raising=False)


def test_stats_reports_the_index(shipped_settings: Settings) -> None:
    info = Store.open(shipped_settings.index).info
    shown = stats(shipped_settings.index)
    assert shown["Articles"] == str(info.articles)
    assert shown["Passages"] == f"{info.passages:,}"
    assert shown["Sentences"] == f"{info.sentences:,}"
    assert shown["Model"] == f"{info.model} ({info.dimension} dimensions)"
    assert shown["Query model"] == "ONNX"
    assert shown["Built"] == info.built_at
    assert shown["Min score"] == f"{info.min_score:g} (recorded with the index)"
    megabytes = float(shown["Size on disk"].removesuffix(" MB").replace(",", ""))
    assert megabytes > 1


def test_stats_names_an_overriding_min_score(shipped_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_MIN_SCORE", "0.61")
    assert stats(shipped_settings.index)["Min score"].startswith("0.61 (CITEBOT_MIN_SCORE")


def test_stats_without_an_index_says_how_to_build_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--index", str(tmp_path)])
    assert result.exit_code == 1
    assert "Run `citebot index`" in result.output
