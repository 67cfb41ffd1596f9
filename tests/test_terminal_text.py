"""Terminal text: wrapping by visible width, titles and addresses inside their indent, plurals, the first
build's message and its progress lines when stderr is not a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.models import Answer, Citation, Span
from bot.pipeline import BuildReport
from bot.render.progress import ProgressLines, progress
from bot.render.terminal import render_answer_text
from bot.render.text import plural, truncate, visible_width, wrap
from tests.conftest import FAKE_ANSWERABLE, copy_shipped_articles

BOLD, RESET, UNDERLINE, UNDERLINE_OFF = "\033[1;33m", "\033[0m", "\033[4m", "\033[24m"
ESCAPES = re.compile(r"\x1b\[[0-9;]*m")
LONG_URL = "https://en.wikinews.org/wiki/Australian_woman_claims_Church_of_Scientology_imprisoned_her_for_twelve_years"


def test_escape_codes_take_no_columns_and_wide_characters_two() -> None:
    assert visible_width(f"{BOLD}abc{RESET}") == 3
    assert visible_width("東京") == 4
    assert visible_width("e\u0301") == 1


def test_coloured_text_wraps_as_plain_text_does_and_no_style_runs_under_the_indent() -> None:
    words = "The crane fell into the Grand Mosque of Mecca, killing 107 people and wounding 238 more."
    plain = wrap(f"Before. {words} After.", 40, "    ")
    marked = words.replace("107 people", f"{UNDERLINE}107 people{UNDERLINE_OFF}")
    styled = wrap(f"Before. {BOLD}{marked}{RESET} After.", 40, "    ")
    assert [ESCAPES.sub("", line) for line in styled.splitlines()] == plain.splitlines()
    for line in styled.splitlines()[1:-1]:
        assert line.startswith(f"    {BOLD}") and line.endswith(RESET), "closed at the end, reopened after the indent"


def test_long_titles_and_addresses_stay_inside_their_indent() -> None:
    citation = Citation(
        document="imprisoned.md",
        title="Australian woman claims Church of Scientology imprisoned her for twelve years in a long title",
        url=LONG_URL,
        date="2011-12-02",
        passage="She said so.",
        passage_start=0,
        sentence="She said so.",
        start=0,
        end=12,
        score=0.9,
        answer=Span(0, 3, "She"),
    )
    text = render_answer_text(Answer("q", True, (citation,)), color=True, width=60)
    lines = [line for line in text.splitlines() if line]
    assert all(visible_width(line) <= 60 for line in lines)
    assert lines[0] == "She — 1 source"
    assert [line for line in lines[1:] if not line.startswith("    ")] == [lines[1]], "continued inside the indent"
    assert lines[1].startswith("[1] Australian woman")
    address = "".join(line.strip() for line in lines if "wikinews" in line or "twelve_years" in line)
    assert LONG_URL in address


def test_plurals_in_the_build_summary() -> None:
    one = BuildReport(1, 1, 1, 1, 0, 0, 0, 1, (), 0.1)
    assert one.summary() == (
        "Indexed 1 article, 1 passage in 0.1 s: 1 added, 0 changed, 0 removed, 0 unchanged; 1 sentence embedded."
    )
    assert "Indexed 25 articles, 323 passages" in BuildReport(25, 323, 717, 25, 0, 0, 0, 717, (), 2.0).summary()
    assert plural(0, "sentence") == "0 sentences" and truncate("abcdef", 4) == "abc…"


def test_progress_lines_come_every_tenth_or_ten_seconds() -> None:
    now = [0.0]
    stream = io.StringIO()
    lines = ProgressLines(1000, "Embedding", "sentences", stream, clock=lambda: now[0])
    for _ in range(20):
        now[0] += 1.0
        lines.update(50)
    shown = stream.getvalue().splitlines()
    assert shown[0] == "Embedding: 100 of 1,000 sentences (10%), 2 s"
    assert shown[-1] == "Embedding: 1,000 of 1,000 sentences (100%), 20 s"
    assert len(shown) == 10
    slow = io.StringIO()
    lines = ProgressLines(1000, "Embedding", "sentences", slow, clock=lambda: now[0])
    now[0] += 11.0
    lines.update(1)
    assert slow.getvalue() == "Embedding: 1 of 1,000 sentences (0%), 11 s\n"


def test_a_step_done_at_once_writes_no_progress_line() -> None:
    stream = io.StringIO()
    with progress(12, "Embedding", "sentences", shown=True, stream=stream) as bar:
        bar.update(12)
    assert stream.getvalue() == ""


@pytest.fixture
def runner(hashing_model: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    monkeypatch.delenv("CITEBOT_MIN_SCORE", raising=False)
    return CliRunner()


def test_a_first_ask_says_what_it_builds_and_reports_progress_on_a_redirected_stderr(
    runner: CliRunner, tmp_path: Path
) -> None:
    documents = copy_shipped_articles(tmp_path / "documents")
    folders = ["--documents", str(documents), "--index", str(tmp_path / "index")]
    result = runner.invoke(main, ["ask", FAKE_ANSWERABLE, *folders])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert (
        lines[0]
        == f"There is no index in {tmp_path / 'index'} yet: building it from the 25 articles in {documents} first."
    )
    progress_lines = [line for line in lines if line.startswith("Embedding: ")]
    assert progress_lines and progress_lines[-1].startswith("Embedding: 717 of 717 sentences (100%)")
    assert lines[-1].startswith("Indexed 25 articles, 323 passages in ")
    assert result.stdout.startswith("[1] ")


def test_following_a_file_says_to_add_it(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["follow", "/path/feed.xml", "--index", str(tmp_path / "index")])
    assert result.exit_code == 1
    assert "For an article file, use `citebot add FILE`." in result.stderr
