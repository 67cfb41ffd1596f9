"""`citebot eval --plot FILE.png`: the threshold curve, drawn with the optional extra, or one line saying
how to install it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.evaluation.metrics import QuestionResult
from bot.evaluation.questions import EvalQuestion, Kind
from bot.models import RetrievalMode
from bot.render.plot import threshold_curve
from tests.conftest import ROOT

SEED = "000_a252677522aeadfb.txt"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result(answerable: bool, score: float, hit: bool, answered: bool) -> QuestionResult:
    question = EvalQuestion(
        question="q",
        evidence=("the answer",) if answerable else (),
        kind=Kind.ANSWERABLE if answerable else Kind.OFF_TOPIC,
        line=1,
    )
    sentence = "the answer is here" if hit else "something else"
    return QuestionResult(
        question=question,
        mode=RetrievalMode.HYBRID,
        answered=answered,
        quoted=(sentence,) if answered else (),
        cited=1 if answered else 0,
        passage_rank=1,
        retrieved_sentence=sentence,
        top_score=score,
        seconds=0.01,
        read_scores=(score,),
        read_hits=(hit,),
    )


def test_the_curve_answers_what_each_threshold_would_give() -> None:
    results = [
        result(True, 0.8, hit=True, answered=True),
        result(True, 0.3, hit=False, answered=True),
        result(True, 0.1, hit=True, answered=False),  # abstained at 0.2; would have cited its best sentence
        result(False, 0.25, hit=False, answered=True),
        result(False, 0.05, hit=False, answered=False),
    ]
    curve = threshold_curve(results, in_use=0.2, points=11)
    at = {round(t, 1): i for i, t in enumerate(curve.thresholds)}
    assert curve.answered[at[0.0]] == 1.0 and curve.hit_at_1[at[0.0]] == pytest.approx(2 / 3)
    assert curve.answered[at[0.2]] == pytest.approx(2 / 3) and curve.hit_at_1[at[0.2]] == pytest.approx(1 / 3)
    assert curve.abstained[at[0.2]] == 0.5 and curve.abstained[at[0.3]] == 1.0
    assert curve.answered[at[0.9]] == 0.0 and curve.hit_at_1[at[0.9]] == 0.0
    assert curve.in_use == 0.2


@pytest.fixture
def tiny(tmp_path: Path, hashing_model: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`citebot eval` arguments: three questions about the seed article, on the hashing embedder."""
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    monkeypatch.delenv("CITEBOT_MIN_SCORE", raising=False)
    documents = tmp_path / "documents"
    documents.mkdir()
    shutil.copy(ROOT / "documents" / SEED, documents / SEED)
    questions = tmp_path / "tiny.jsonl"
    lines = [
        {"question": "Who denied the allegations?", "evidence": ["Russia has denied the allegations"]},
        {"question": "how many wagner people are in libya", "evidence": ["up to 1,200 people"]},
        {"question": "What is a good recipe for banana bread?", "evidence": [], "kind": "off_topic"},
    ]
    questions.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return ["eval", str(questions), "--documents", str(documents), "--index", str(tmp_path / "index")]


def test_eval_plot_writes_a_png(tiny: list[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (citebot[plot]) is not installed")
    result = CliRunner().invoke(main, [*tiny, "--json", "--plot", str(tmp_path / "curve.png")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["modes"]["hybrid"], "stdout stays the report alone"
    assert result.stderr.splitlines()[-1] == f"Drew the threshold curve into {tmp_path / 'curve.png'}."
    assert (tmp_path / "curve.png").read_bytes().startswith(PNG_SIGNATURE)


def test_eval_plot_without_the_extra_is_one_line_before_any_work(
    tiny: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails, as when it is not installed
    result = CliRunner().invoke(main, [*tiny, "--plot", str(tmp_path / "curve.png")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "citebot: --plot needs matplotlib, which is not installed. Install the plotting extra: "
        "pip install 'citebot[plot]' (or .venv/bin/pip install matplotlib)."
    ]
    assert not (tmp_path / "index").exists() and not (tmp_path / "curve.png").exists()


def test_eval_plot_refuses_a_file_type_it_cannot_draw(tiny: list[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (citebot[plot]) is not installed")
    result = CliRunner().invoke(main, [*tiny, "--plot", str(tmp_path / "curve.xyz")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "citebot: --plot cannot write a .xyz file. Give a name ending in .png, .svg or .pdf."
    ]
    assert not (tmp_path / "index").exists(), "refused before any work"
