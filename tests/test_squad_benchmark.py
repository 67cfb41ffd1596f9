"""`benchmarks/squad.py` turns SQuAD into documents citebot reads and questions `citebot eval` reads."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bot.evaluation.metrics import contains_evidence
from bot.evaluation.questions import load_questions
from bot.ingest.chunk import paragraphs
from bot.ingest.documents import read_article, scan_documents

ROOT = Path(__file__).resolve().parents[1]


def qa(id: str, question: str, *answers: str) -> dict[str, object]:
    return {"id": id, "question": question, "answers": [{"text": answer} for answer in answers]}


OXYGEN = [
    {
        "context": "Oxygen is element 8. It forms O\n2 gas.",
        "qas": [qa("o1", "What  number is oxygen?", "8", "8"), qa("o2", "What gas?", "O\n2")],
    },
    {"context": "Ozone is O3.", "qas": [qa("o3", "Ozone?", "O3")]},
]
SKY = [{"context": "Sky is a broadcaster.", "qas": [qa("s1", "Sky?", "broadcaster")]}]
SQUAD = {
    "version": "1.1",
    "data": [{"title": "Oxygen", "paragraphs": OXYGEN}, {"title": "Sky_(United_Kingdom)", "paragraphs": SKY}],
}


@pytest.fixture(scope="module")
def squad() -> ModuleType:
    """Loaded by path: pysbd installs a stray top-level `benchmarks` package that shadows ours."""
    spec = importlib.util.spec_from_file_location("squad_benchmark", ROOT / "benchmarks" / "squad.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "squad.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(SQUAD, handle)
    return path


def test_convert_writes_one_markdown_article_per_page_and_eval_questions(
    squad: ModuleType, data: Path, tmp_path: Path
) -> None:
    documents, questions_path, count = squad.convert(squad.load_squad(data), tmp_path / "work", None)
    assert sorted(path.name for path in documents.iterdir()) == ["00_Oxygen.md", "01_Sky_United_Kingdom.md"]
    oxygen, sky = (read_article(found) for found in scan_documents(documents))
    assert (oxygen.title, sky.title) == ("Oxygen", "Sky (United Kingdom)")
    assert sky.url == "https://en.wikipedia.org/wiki/Sky_(United_Kingdom)"
    cleaned = oxygen.text
    expected = ["Oxygen is element 8. It forms O 2 gas.", "Ozone is O3."]
    assert [paragraph.text for paragraph in paragraphs(cleaned)] == expected

    questions = load_questions(questions_path)
    assert count == len(questions) == 4
    assert questions[0].question == "What number is oxygen?"
    assert questions[0].evidence == ("8",), "duplicate gold answers are listed once"
    assert questions[1].evidence == ("O 2",)
    texts = {"o": cleaned, "s": sky.text}
    for question, record in zip(questions, questions_path.read_text().splitlines(), strict=True):
        assert contains_evidence(texts[json.loads(record)["id"][0]], question.evidence)


def test_folds_and_limits_pick_questions_but_keep_every_page(squad: ModuleType, data: Path, tmp_path: Path) -> None:
    articles = squad.load_squad(data)
    documents, path, count = squad.convert(articles, tmp_path / "odd", None, "odd")
    assert count == 1 and len(list(documents.iterdir())) == 2
    assert json.loads(path.read_text())["id"] == "s1"
    _, path, count = squad.convert(articles, tmp_path / "even", 2, "even")
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["o1", "o2"]


def test_reconverting_a_subset_removes_pages_left_from_a_larger_run(
    squad: ModuleType, data: Path, tmp_path: Path
) -> None:
    articles = squad.load_squad(data)
    squad.convert(articles, tmp_path, None)
    documents, _, _ = squad.convert(articles[:1], tmp_path, None)
    assert [path.name for path in documents.iterdir()] == ["00_Oxygen.md"]
