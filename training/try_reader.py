"""Try a trained reader as citebot would ship it, then put the shipped one back.

    python training/try_reader.py training/.work/run4/model [--blend] [--slow]

``benchmarks/operating_points.py`` compares readers at matched answered rates; this answers the other
question, "what would a user get if this one shipped?". It copies the candidate into ``bot/read/model``,
adopts its ``answer_words`` threshold (fitted by ``calibrate_reader.py`` at the end of training), with
``--blend`` fits how the read stage weighs it against the first cut (``benchmarks/fit_blend.py --write``,
on SQuAD train articles it never learnt from; a few minutes), fits ``answer``, ``support`` and
``relevance`` with ``citebot eval eval/calibration.jsonl`` as a release would, prints ``citebot eval`` on the
test and holdout questions and, with ``--slow``, the real-model tests. Whatever happens, the shipped
model and ``bot/read/thresholds.json`` are restored byte for byte at the end; with ``--keep`` they are
not, which is how a candidate is adopted (then commit the folder and thresholds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.read.reader import MODEL_FILE, MODEL_FOLDER, SETTINGS_FILE, TOKENIZER_FILE  # noqa: E402
from bot.read.thresholds import THRESHOLDS_FILE  # noqa: E402
from training.calibrate_reader import set_reader_thresholds  # noqa: E402

MODEL_FILES = (MODEL_FILE, SETTINGS_FILE, TOKENIZER_FILE)
CALIBRATION_SET = "eval/calibration.jsonl"
"""The questions the thresholds are fitted on: never trained on (the reader learns from eval/dev.jsonl)."""
CITEBOT = Path(sys.executable).with_name("citebot")


def copy_reader(source: Path, target: Path) -> None:
    for name in MODEL_FILES:
        shutil.copy2(source / name, target / name)


def adopt(candidate: Path, blend: bool) -> dict[str, object]:
    """Copy the candidate in (and fit its blend) and fit every threshold for it; returns the reader's new thresholds."""
    copy_reader(candidate, MODEL_FOLDER)
    if blend:
        fit = [sys.executable, "benchmarks/fit_blend.py", "--limit", "800", "--reader", str(MODEL_FOLDER), "--write"]
        subprocess.run(fit, cwd=ROOT, check=True)
    settings = json.loads((candidate / SETTINGS_FILE).read_text(encoding="utf-8"))
    set_reader_thresholds(THRESHOLDS_FILE, answer_words=settings["validation"]["answer_words_threshold"])
    report = subprocess.run(
        [str(CITEBOT), "eval", CALIBRATION_SET, "--json"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    fitted = json.loads(report.stdout)["calibration"]
    return set_reader_thresholds(
        THRESHOLDS_FILE,
        answer=round(fitted["answer"], 4),
        support=round(fitted["support"], 4),
        objective=fitted["objective"],
        relevance=fitted["relevance"],
    )


def measure(slow: bool) -> None:
    for questions in ("eval/test.jsonl", "eval/holdout.jsonl"):
        subprocess.run([str(CITEBOT), "eval", questions], cwd=ROOT, check=True)
    if slow:
        subprocess.run([sys.executable, "-m", "pytest", "-m", "slow", "-q", "-p", "no:cacheprovider"], cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", type=Path, help="a folder written by train_reader.py --output")
    parser.add_argument("--blend", action="store_true", help="fit its blend with the first cut first")
    parser.add_argument("--slow", action="store_true", help="also run the real-model tests with it")
    parser.add_argument("--keep", action="store_true", help="leave the candidate and its thresholds in place")
    args = parser.parse_args()
    missing = [name for name in MODEL_FILES if not (args.candidate / name).is_file()]
    if missing:
        sys.exit(f"try_reader: {args.candidate} lacks {', '.join(missing)}; give a folder train_reader.py wrote")
    print("command: python training/try_reader.py " + " ".join(sys.argv[1:]), flush=True)
    with tempfile.TemporaryDirectory() as backup:
        saved = Path(backup)
        copy_reader(MODEL_FOLDER, saved)
        shutil.copy2(THRESHOLDS_FILE, saved / THRESHOLDS_FILE.name)
        try:
            thresholds = adopt(args.candidate, args.blend)
            print(f"thresholds fitted on {CALIBRATION_SET}:", json.dumps(thresholds, ensure_ascii=False))
            measure(args.slow)
        finally:
            if not args.keep:
                copy_reader(saved, MODEL_FOLDER)
                shutil.copy2(saved / THRESHOLDS_FILE.name, THRESHOLDS_FILE)
                print("restored the shipped reader and thresholds", flush=True)


if __name__ == "__main__":
    main()
