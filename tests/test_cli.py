"""The command line as a user meets it: its contract in this process on the hashing embedder, and the
README's journeys in real subprocesses with the real model."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from bot.settings import Settings
from bot.store.reading import Store
from tests.conftest import DENIALS, FAKE_ANSWERABLE, ROOT, SHIPPED_MANIFEST, copy_shipped_articles

HEAVY = ("torch", "sentence_transformers", "transformers")
UNANSWERABLE = "How do I bake sourdough bread?"
Citebot = Callable[..., Result]


class CurrentStderr(logging.Handler):
    """What ``main``'s ``logging.basicConfig`` sets up in a real process: warnings on stderr. Under pytest
    that call does nothing (pytest's handlers are already on the root logger), so this stands in."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"{record.levelname}: {record.getMessage()}\n")


@pytest.fixture
def citebot(hashing_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Citebot:
    """``citebot ARGS...`` in this process, in an empty folder, with no CITEBOT_ setting but the model."""
    for name in [name for name in os.environ if name.startswith("CITEBOT_") or name == "DISCORD_TOKEN"]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    warnings = CurrentStderr(logging.WARNING)

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
        logging.getLogger().addHandler(warnings)
        try:
            environment = {"CITEBOT_MODEL": hashing_model, **(env or {})}
            return CliRunner().invoke(main, list(args), input=stdin, env=environment)
        finally:
            logging.getLogger().removeHandler(warnings)

    return run


def index_args(settings: Settings) -> tuple[str, ...]:
    return ("--documents", str(settings.documents), "--index", str(settings.index))


def assert_one_line_error(result: Result, *phrases: str) -> None:
    """A non-zero exit with one line on stderr, never a traceback."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0]


def assert_verbatim_json(record: dict, documents: Path) -> None:
    for citation in record["citations"]:
        source = (documents / citation["document"]).read_text(encoding="utf-8")
        assert citation["sentence"] in citation["passage"]
        assert citation["sentence"] in source
        assert set(citation) >= {"document", "title", "url", "date", "passage", "sentence", "start", "end", "score"}


def assert_offsets_in_the_clean_text(record: dict, settings: Settings) -> None:
    texts = {article.document: article.text for article in Store.open(settings.index).articles()}
    for citation in record["citations"]:
        assert texts[citation["document"]][citation["start"] : citation["end"]] == citation["sentence"]


def test_ask_prints_numbered_citations_with_the_sentence_marked(citebot: Citebot, fake_settings: Settings) -> None:
    result = citebot("ask", FAKE_ANSWERABLE, *index_args(fake_settings))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("[1] ")
    assert result.stdout.split("**")[1].startswith(FAKE_ANSWERABLE)
    assert "000_a252677522aeadfb.txt" in result.stdout


def test_ask_json_follows_the_contract(citebot: Citebot, fake_settings: Settings) -> None:
    record = json.loads(citebot("ask", "--json", FAKE_ANSWERABLE, *index_args(fake_settings)).stdout)
    assert record["question"] == FAKE_ANSWERABLE and record["answered"] is True
    assert 1 <= len(record["citations"]) <= 3
    assert record["citations"][0]["sentence"].startswith(FAKE_ANSWERABLE)
    assert_offsets_in_the_clean_text(record, fake_settings)
    assert_verbatim_json(record, fake_settings.documents)


def test_an_unanswerable_question_says_so_plainly(citebot: Citebot, fake_settings: Settings) -> None:
    result = citebot("ask", UNANSWERABLE, *index_args(fake_settings))
    assert result.exit_code == 0
    assert result.stdout.strip() == "The sources don't cover this."
    record = json.loads(citebot("ask", "--json", UNANSWERABLE, *index_args(fake_settings)).stdout)
    assert record == {"question": UNANSWERABLE, "answered": False, "citations": []}


def test_ask_json_reads_one_question_per_line(citebot: Citebot, fake_settings: Settings) -> None:
    result = citebot(
        "ask",
        "--json",
        *index_args(fake_settings),
        stdin=f"{FAKE_ANSWERABLE}\n\n{UNANSWERABLE}\n   \n" + "x" * 5000 + "\n",
    )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["answered"] for r in records] == [True, False, False]
    assert "error" in records[2] and "limit" in records[2]["error"]
    for record in records:
        assert_verbatim_json(record, fake_settings.documents)


@pytest.mark.parametrize(("question", "phrase"), [("", "empty"), ("   ", "empty"), ("y" * 100_000, "limit")])
def test_bad_questions_get_one_line_and_a_non_zero_exit(
    citebot: Citebot, fake_settings: Settings, question: str, phrase: str
) -> None:
    assert_one_line_error(citebot("ask", question, *index_args(fake_settings)), phrase)


def test_ask_without_an_index_builds_one_first_and_says_so(citebot: Citebot, tmp_path: Path) -> None:
    copy_shipped_articles(tmp_path / "documents")
    result = citebot("ask", FAKE_ANSWERABLE)
    assert result.exit_code == 0, result.stderr
    assert "building it" in result.stderr
    assert result.stdout.startswith("[1] ")
    assert (tmp_path / "index" / "CURRENT").exists()


def test_index_prints_a_one_line_summary_and_warns_of_what_it_skipped(citebot: Citebot, tmp_path: Path) -> None:
    copy_shipped_articles(tmp_path / "documents")
    (tmp_path / "documents" / "scan.txt").write_bytes(b"\x00\x01binary\xff")
    (tmp_path / "documents" / "empty.txt").write_text("\n\n")
    result = citebot("index", env={"CITEBOT_DOCUMENTS": "documents", "CITEBOT_INDEX": "index"})
    assert result.exit_code == 0, result.stderr
    [summary] = result.stdout.splitlines()
    shipped = len(SHIPPED_MANIFEST.read_text(encoding="utf-8").splitlines())
    assert summary.startswith(f"Indexed {shipped} articles") and "scan.txt" in summary
    assert "scan.txt" in result.stderr and "binary" in result.stderr


@pytest.mark.parametrize("setup", ["missing", "empty", "only binary"])
def test_no_articles_is_a_clear_error(citebot: Citebot, tmp_path: Path, setup: str) -> None:
    if setup != "missing":
        (tmp_path / "documents").mkdir()
    if setup == "only binary":
        (tmp_path / "documents" / "a.txt").write_bytes(b"\x00\x00")
    result = citebot("index")
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert "documents" in result.stderr


def test_a_corrupted_index_says_to_rebuild(citebot: Citebot, tmp_path: Path, fake_settings: Settings) -> None:
    shutil.copytree(fake_settings.index, tmp_path / "index")
    build = tmp_path / "index" / "builds" / (tmp_path / "index" / "CURRENT").read_text().strip()
    (build / "vectors.faiss").write_bytes(b"not a faiss index")
    result = citebot(
        "ask", FAKE_ANSWERABLE, "--index", str(tmp_path / "index"), "--documents", str(fake_settings.documents)
    )
    assert_one_line_error(result, "citebot index")


def test_an_index_built_with_another_model_says_to_rebuild(citebot: Citebot, fake_settings: Settings) -> None:
    result = citebot(
        "ask",
        FAKE_ANSWERABLE,
        *index_args(fake_settings),
        env={"CITEBOT_MODEL": "sentence-transformers/paraphrase-MiniLM-L3-v2"},
    )
    assert_one_line_error(result, "citebot index", "paraphrase-MiniLM-L3-v2")


HEAVY_MODULES_AFTER = """
import json, sys
from bot.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})), file=sys.stderr)
"""


def run_citebot(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``citebot ARGS...`` in a new process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def heavy_modules_after(*args: str) -> tuple[str, list[str]]:
    """Run ``citebot ARGS...`` in a new process; its stdout, and the heavy modules it imported."""
    result = subprocess.run(
        [sys.executable, "-c", HEAVY_MODULES_AFTER.format(heavy=set(HEAVY)), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "CITEBOT_DOCUMENTS": str(ROOT / "documents")},
    )
    return result.stdout, json.loads(result.stderr.strip().splitlines()[-1])


def test_help_answers_without_importing_torch() -> None:
    output, heavy = heavy_modules_after("--help")
    assert "ask" in output and "index" in output
    assert heavy == []


def test_a_bad_setting_names_the_variable_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    result = run_citebot("ask", "x", cwd=tmp_path, env={"CITEBOT_MIN_SCORE": "high"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "CITEBOT_MIN_SCORE" in line


@pytest.mark.slow
def test_a_first_ask_builds_the_index_and_quotes_a_denial(tmp_path: Path) -> None:
    """The README's first command, from a folder with only the articles."""
    copy_shipped_articles(tmp_path / "documents")
    result = run_citebot("ask", "who denied the Wagner claims?", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "building it" in result.stderr
    assert result.stdout.startswith("[1] ")
    marked = result.stdout.split("**")[1]
    assert any(" ".join(denial.split()) in " ".join(marked.split()) for denial in DENIALS)
    assert "000_a252677522aeadfb.txt" in result.stdout


@pytest.mark.slow
def test_ask_json_on_the_real_model_quotes_a_denial_at_its_offsets(shipped_settings: Settings) -> None:
    result = run_citebot("ask", "--json", "who denied the Wagner claims?", *index_args(shipped_settings))
    record = json.loads(result.stdout)
    assert record["question"] == "who denied the Wagner claims?" and record["answered"] is True
    assert 1 <= len(record["citations"]) <= 3
    first = record["citations"][0]
    assert first["document"] == "000_a252677522aeadfb.txt"
    assert any(denial in first["sentence"] for denial in DENIALS)
    assert_offsets_in_the_clean_text(record, shipped_settings)
    assert_verbatim_json(record, shipped_settings.documents)


@pytest.mark.slow
def test_a_cold_ask_answers_without_importing_torch(shipped_settings: Settings) -> None:
    output, heavy = heavy_modules_after("ask", "--json", *index_args(shipped_settings), "who is Haftar?")
    assert json.loads(output)["answered"] is True
    assert heavy == []
