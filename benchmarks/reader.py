"""The reader on SQuAD 2.0: does citebot answer what the collection answers, and abstain on what it doesn't?

Every one of the 35 v2.0 dev articles goes into one collection; the questions asked are those of the
articles at odd positions (0-based, file order), which the reader never trained, fitted or calibrated
on (``training/train_reader.py``). Answerable ones are SQuAD v1.1 questions; the unanswerable ones are
adversarial, written against the very paragraph, the hardest case for abstention.

    python benchmarks/reader.py                  # every held-out question (about 6,000)
    python benchmarks/reader.py --limit 1500     # an even spread of 1,500 of them

Figures: AUROC of the answer's confidence between answerable and unanswerable questions; at the
threshold in use, the share of answerable questions answered and of those the share whose quoted
sentence holds a gold answer; the share of unanswerable questions abstained; exact match and F1 of the
answer words (SQuAD's normalisation) over the answered answerable questions; latency.

SQuAD 2.0: Rajpurkar, Jia and Liang, 2018, "Know What You Don't Know: Unanswerable Questions for SQuAD".
Wikipedia text and questions under CC BY-SA 4.0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

import squad  # noqa: E402  (benchmarks/squad.py: documents, index reuse)
from sklearn.metrics import roc_auc_score  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "bench" / "dev-v2.0.json.gz"
DEFAULT_WORK = Path("/tmp/citebot-squad2")


@dataclass(frozen=True)
class HeldOutQuestion:
    question: str
    answers: tuple[str, ...]  # empty: unanswerable

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load(path: Path) -> tuple[tuple[squad.SquadArticle, ...], list[HeldOutQuestion]]:
    """Every article (for the collection) and the questions of the odd-positioned ones."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    articles = tuple(
        squad.SquadArticle(article["title"], tuple(p["context"] for p in article["paragraphs"]), ()) for article in data
    )
    asked = [
        HeldOutQuestion(
            " ".join(qa["question"].split()),
            tuple(dict.fromkeys(" ".join(a["text"].split()) for a in qa["answers"])),
        )
        for article in data[1::2]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    return articles, asked


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD v2.0 dev json.gz")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where documents and index go")
    parser.add_argument("--limit", type=int, default=None, help="only N held-out questions, spread evenly")
    parser.add_argument("--min-score", type=float, default=None, help="override the index's threshold")
    args = parser.parse_args(argv)

    from bot.evaluation.answer_words import exact_match, f1_score, normalise
    from bot.models import RetrievalMode
    from bot.settings import Settings

    articles, asked = load(args.data)
    questions = squad.pick(asked, args.limit)
    documents = args.work / "documents"
    documents.mkdir(parents=True, exist_ok=True)
    for number, article in enumerate(articles):
        target = documents / squad.file_name(number, article.title)
        text = squad.article_markdown(article)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    settings = Settings(documents=documents, index=args.work / "index", min_score=args.min_score, _env_file=None)
    engine = squad.open_engine(settings, args.work / "index-built-from.txt", rebuild=False)
    engine.ask("warm up the models")

    confidence = {True: [], False: []}
    answered = {True: 0, False: 0}
    holds_gold = exact = overlap = shown = 0
    seconds = []
    for question in questions:
        started = time.perf_counter()
        answer = engine.trace(question.question, mode=RetrievalMode.HYBRID).answer
        seconds.append(time.perf_counter() - started)
        confidence[question.answerable].append(answer.confidence)
        answered[question.answerable] += answer.answered
        if question.answerable and answer.answered:
            first = answer.citations[0]
            holds_gold += any(normalise(gold) in normalise(first.sentence) for gold in question.answers)
            if first.answer is not None:
                shown += 1
                exact += any(exact_match(first.answer.text, gold) for gold in question.answers)
                overlap += max(f1_score(first.answer.text, gold) for gold in question.answers)

    answerable, unanswerable = len(confidence[True]), len(confidence[False])
    spoke = max(answered[True], 1)
    print(f"SQuAD 2.0 dev, held-out articles (odd positions), over all {len(articles)} articles")
    print(
        f"questions: {answerable} answerable, {unanswerable} unanswerable; "
        f"judge: {engine.judge}, min_score {engine.min_score:.4g}"
    )
    auroc = roc_auc_score([True] * answerable + [False] * unanswerable, confidence[True] + confidence[False])
    print(f"AUROC of the confidence, answerable vs unanswerable: {auroc:.3f}")
    print(f"answerable answered:                     {answered[True] / max(answerable, 1):.1%}")
    print(f"  quoted sentence holds a gold answer:   {holds_gold / spoke:.1%}")
    print(f"  answers that show answer words:        {shown / spoke:.1%}")
    print(f"  those words' exact match / F1:         {exact / max(shown, 1):.1%} / {overlap / max(shown, 1):.1%}")
    print(f"unanswerable abstained:                  {1 - answered[False] / max(unanswerable, 1):.1%}")
    print(
        f"latency p50 / p95:                       {np.percentile(seconds, 50) * 1000:.0f} / "
        f"{np.percentile(seconds, 95) * 1000:.0f} ms"
    )
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        kept = sum(score >= threshold for score in confidence[True]) / max(answerable, 1)
        refused = sum(score < threshold for score in confidence[False]) / max(unanswerable, 1)
        print(f"  at {threshold:.1f}: answered {kept:.1%} of answerable, abstained {refused:.1%} of unanswerable")
    print("data: SQuAD 2.0 dev (Rajpurkar et al., 2018); Wikipedia text, CC BY-SA 4.0")
    print(f"command: python benchmarks/reader.py {shlex.join(argv)}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
