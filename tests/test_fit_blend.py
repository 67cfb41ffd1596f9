"""`benchmarks/fit_blend.py` fits how the read stage weighs a reader against the first cut, and keeps the
blend in that reader's own `reader.json`, where the reader finds it."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from bot.read.blend import Blend
from bot.read.reader import MODEL_FOLDER, Reader
from training.calibrate_reader import set_reader_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fit_blend() -> ModuleType:
    """Loaded by path: pysbd installs a stray top-level `benchmarks` package that shadows ours."""
    spec = importlib.util.spec_from_file_location("fit_blend_benchmark", ROOT / "benchmarks" / "fit_blend.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_where_the_first_cut_knows_the_answer_the_blend_weighs_it_more(fit_blend: ModuleType) -> None:
    rng = np.random.default_rng(0)
    questions, per_question = 60, 4
    reader = rng.normal(size=questions * per_question)  # the reader's verdicts: noise
    first_cut = rng.normal(size=questions * per_question)
    hits = np.zeros(questions * per_question)
    for question in range(questions):
        group = slice(question * per_question, (question + 1) * per_question)
        hits[group.start + int(np.argmax(first_cut[group]))] = 1.0  # the first cut's best is the hit
    data = fit_blend.Candidates(
        np.column_stack([reader, first_cut]),
        hits,
        np.repeat(np.arange(questions), per_question),
        np.ones(questions * per_question, dtype=bool),
    )
    blend = fit_blend.calibrated(fit_blend.fit_ranking(data), data)
    assert blend.first_cut > 5 * abs(blend.reader)
    assert fit_blend.hit_at_1(np.array([blend.reader, blend.first_cut]), data) == 1.0


def test_a_written_blend_is_the_one_the_reader_loads_and_nothing_else_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(MODEL_FOLDER, folder, ignore=shutil.ignore_patterns("*.onnx"))
    before = json.loads((folder / "reader.json").read_text())
    blend = Blend(reader=0.8372, first_cut=0.7603, offset=-0.2084)

    set_reader_settings(folder, blend=blend.as_json(), blend_command="python benchmarks/fit_blend.py --write")

    after = json.loads((folder / "reader.json").read_text())
    assert after == before | {"blend": blend.as_json(), "blend_command": "python benchmarks/fit_blend.py --write"}
    monkeypatch.setattr("bot.read.reader.cpu_session", lambda *_: object())  # the session is not run
    assert Reader(folder).blend == blend
