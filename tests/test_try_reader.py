"""Trying a candidate reader never leaves the shipped one changed: whatever fails, the model folder and
the thresholds file are put back byte for byte, and a folder that is not a trained reader is refused."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import try_reader  # noqa: E402


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped reader and thresholds standing in for bot/read, so the repository is never touched."""
    folder = tmp_path / "shipped"
    shutil.copytree(ROOT / "bot" / "read" / "model", folder)
    thresholds = tmp_path / "thresholds.json"
    shutil.copy2(ROOT / "bot" / "read" / "thresholds.json", thresholds)
    monkeypatch.setattr(try_reader, "MODEL_FOLDER", folder)
    monkeypatch.setattr(try_reader, "THRESHOLDS_FILE", thresholds)
    return folder


def contents(folder: Path, thresholds: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in try_reader.MODEL_FILES} | {
        "thresholds": thresholds.read_bytes()
    }


def test_a_candidate_that_breaks_midway_leaves_the_shipped_reader_as_it_was(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(shipped, try_reader.THRESHOLDS_FILE)
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    for name in try_reader.MODEL_FILES:
        (candidate / name).write_bytes(b"not a model")
    (candidate / "reader.json").write_text(json.dumps({"max_tokens": 128}), encoding="utf-8")  # never calibrated
    monkeypatch.setattr(sys, "argv", ["try_reader.py", str(candidate)])

    with pytest.raises(KeyError, match="validation"):
        try_reader.main()

    assert contents(shipped, try_reader.THRESHOLDS_FILE) == before


def test_a_folder_without_a_trained_reader_is_refused_in_one_line(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(shipped, try_reader.THRESHOLDS_FILE)
    monkeypatch.setattr(sys, "argv", ["try_reader.py", str(tmp_path)])

    with pytest.raises(SystemExit, match=re.escape("lacks reader.onnx, reader.json, tokenizer.json")):
        try_reader.main()

    assert contents(shipped, try_reader.THRESHOLDS_FILE) == before
