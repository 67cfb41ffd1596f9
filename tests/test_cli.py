"""The command line as a user meets it, in real subprocesses."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store.reading import Store
from tests.conftest import DENIALS, ROOT, SHIPPED_DOCUMENTS


def citebot(*args: str, stdin: str | None = None, cwd: Path = ROOT, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def assert_one_line_error(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
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


@pytest.fixture(scope="module")
def index_args(shipped_settings) -> tuple[str, ...]:
    return ("--documents", str(shipped_settings.documents), "--index", str(shipped_settings.index))


def test_help_answers_without_importing_torch() -> None:
    probe = "import sys; sys.argv=['citebot','--help']\ntry:\n    from bot.cli import main; main()\n" \
            "except SystemExit: pass\nprint('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert "ask" in result.stdout and "index" in result.stdout
    assert result.stdout.strip().endswith("False False")


def test_ask_prints_numbered_citations_with_the_sentence_marked(index_args) -> None:
    result = citebot("ask", "who denied the Wagner claims?", *index_args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[1] ")
    marked = result.stdout.split("**")[1]
    assert any(" ".join(denial.split()) in " ".join(marked.split()) for denial in DENIALS)
    assert "000_a252677522aeadfb.txt" in result.stdout


def test_ask_json_follows_the_contract(index_args, shipped_settings) -> None:
    result = citebot("ask", "--json", "who denied the Wagner claims?", *index_args)
    record = json.loads(result.stdout)
    assert record["question"] == "who denied the Wagner claims?" and record["answered"] is True
    assert 1 <= len(record["citations"]) <= 3
    first = record["citations"][0]
    assert first["document"] == "000_a252677522aeadfb.txt"
    assert any(denial in first["sentence"] for denial in DENIALS)
    texts = {a.document: a.text for a in Store.open(shipped_settings.index).articles()}
    assert texts[first["document"]][first["start"]:first["end"]] == first["sentence"]
    assert_verbatim_json(record, shipped_settings.documents)


def test_an_unanswerable_question_says_so_plainly(index_args) -> None:
    result = citebot("ask", "How do I bake sourdough bread?", *index_args)
    assert result.returncode == 0
    assert result.stdout.strip() == "The sources don't cover this."
    record = json.loads(citebot("ask", "--json", "How do I bake sourdough bread?", *index_args).stdout)
    assert record == {"question": "How do I bake sourdough bread?", "answered": False, "citations": []}


def test_ask_json_reads_one_question_per_line(index_args, shipped_settings) -> None:
    result = citebot("ask", "--json", *index_args,
                     stdin="who denied the Wagner claims?\n\nHow do I bake sourdough bread?\n   \n" + "x" * 5000 + "\n")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["answered"] for r in records] == [True, False, False]
    assert "error" in records[2] and "limit" in records[2]["error"]
    for record in records:
        assert_verbatim_json(record, shipped_settings.documents)


@pytest.mark.parametrize(("question", "phrase"), [("", "empty"), ("   ", "empty"), ("y" * 100_000, "limit")])
def test_bad_questions_get_one_line_and_a_non_zero_exit(index_args, question: str, phrase: str) -> None:
    assert_one_line_error(citebot("ask", question, *index_args), phrase)


def test_ask_without_an_index_builds_one_first_and_says_so(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_DOCUMENTS, tmp_path / "documents")
    result = citebot("ask", "who denied the Wagner claims?", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "building it" in result.stderr
    assert result.stdout.startswith("[1] ")
    assert (tmp_path / "index" / "CURRENT").exists()


def test_index_prints_a_one_line_summary(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_DOCUMENTS, tmp_path / "documents")
    (tmp_path / "documents" / "scan.txt").write_bytes(b"\x00\x01binary\xff")
    (tmp_path / "documents" / "empty.txt").write_text("\n\n")
    result = citebot("index", cwd=tmp_path, env={"CITEBOT_DOCUMENTS": "documents", "CITEBOT_INDEX": "index"})
    assert result.returncode == 0, result.stderr
    [summary] = result.stdout.splitlines()
    assert summary.startswith("Indexed 1 articles") and "scan.txt" in summary
    assert "scan.txt" in result.stderr and "binary" in result.stderr


@pytest.mark.parametrize("setup", ["missing", "empty", "only binary"])
def test_no_articles_is_a_clear_error(tmp_path: Path, setup: str) -> None:
    if setup != "missing":
        (tmp_path / "documents").mkdir()
    if setup == "only binary":
        (tmp_path / "documents" / "a.txt").write_bytes(b"\x00\x00")
    result = citebot("index", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "documents" in result.stderr


def test_a_corrupted_index_says_to_rebuild(tmp_path: Path, shipped_settings) -> None:
    shutil.copytree(shipped_settings.index, tmp_path / "index")
    build = (tmp_path / "index" / "builds" / (tmp_path / "index" / "CURRENT").read_text().strip())
    (build / "vectors.faiss").write_bytes(b"not a faiss index")
    result = citebot("ask", "who denied the Wagner claims?", "--index", str(tmp_path / "index"),
                     "--documents", str(shipped_settings.documents))
    assert_one_line_error(result, "citebot index")


def test_an_index_built_with_another_model_says_to_rebuild(index_args) -> None:
    result = citebot("ask", "who denied the Wagner claims?", *index_args,
                     env={"CITEBOT_MODEL": "sentence-transformers/paraphrase-MiniLM-L3-v2"})
    assert_one_line_error(result, "citebot index", "paraphrase-MiniLM-L3-v2")


def test_a_bad_setting_names_the_variable(index_args) -> None:
    assert_one_line_error(citebot("ask", "x", *index_args, env={"CITEBOT_MIN_SCORE": "high"}), "CITEBOT_MIN_SCORE")
