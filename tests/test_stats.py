"""`citebot stats` reports what the published index holds."""

from __future__ import annotations

from pathlib import Path

import faiss
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.read.thresholds import thresholds_for
from bot.settings import Settings
from bot.store.reading import Store
from bot.store.stats import index_stats


def stats(index: Path) -> dict[str, str]:
    result = CliRunner().invoke(main, ["stats", "--index", str(index)])
    assert result.exit_code == 0, result.output
    return {key: value.strip() for key, value in (line.split(":", 1) for line in result.output.splitlines())}


@pytest.fixture(autouse=True)
def no_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command must not see a threshold set elsewhere."""
    monkeypatch.delenv("CITEBOT_MIN_SCORE", raising=False)


def test_stats_reports_the_index(fake_settings: Settings) -> None:
    info = Store.open(fake_settings.index).info
    shown = stats(fake_settings.index)
    assert list(shown) == [
        "Index", "Articles", "Passages", "Sentences", "Model", "Query model", "Built", "Size on disk", "Min score"
    ]  # fmt: skip
    assert shown["Articles"] == f"{info.articles:,}"
    assert shown["Passages"] == f"{info.passages:,}"
    assert shown["Sentences"] == f"{info.sentences:,}"
    assert shown["Model"] == f"{info.model} ({info.dimension} dimensions)"
    assert shown["Query model"] == "none, queries load sentence-transformers"
    assert shown["Built"] == info.built_at
    used = thresholds_for(fake_settings).answer
    assert shown["Min score"] == f"{used:g} (bot/read/thresholds.json (reader))", "the threshold the engine uses"
    megabytes = float(shown["Size on disk"].removesuffix(" MB").replace(",", ""))
    assert megabytes > 0.1


def test_stats_loads_no_vectors(fake_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_vectors(*args: object) -> None:
        raise AssertionError("stats loaded vectors")

    monkeypatch.setattr(faiss, "read_index", no_vectors)
    figures = index_stats(fake_settings.index)
    assert figures.sentences > figures.passages >= figures.articles > 0


def test_stats_names_an_overriding_min_score(fake_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_MIN_SCORE", "0.61")
    assert stats(fake_settings.index)["Min score"].startswith("0.61 (CITEBOT_MIN_SCORE")


@pytest.mark.slow
def test_stats_says_when_queries_run_on_onnx(shipped_settings: Settings) -> None:
    assert stats(shipped_settings.index)["Query model"] == "ONNX"


def test_stats_without_an_index_says_how_to_build_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--index", str(tmp_path)])
    assert result.exit_code == 1
    assert "Run `citebot index" in result.output
