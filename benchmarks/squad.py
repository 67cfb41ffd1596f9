"""SQuAD v1.1 dev as a citebot benchmark: sentence hit@1 and passage hit@5 on Wikipedia questions.

Turns the SQuAD JSON into a documents folder (one Markdown article per Wikipedia page, paragraphs
separated by blank lines) and a question file in `citebot eval` format (evidence = the gold answers),
builds the index with the real pipeline, and measures hybrid, dense-only and lexical-only retrieval
in one run. The data stays outside the repository; it is read from ``../shared/bench/`` or --data.

    python benchmarks/squad.py                              # the whole set (about 10k questions; slow)
    python benchmarks/squad.py --articles 3 --limit 200     # a quick subset

Run it as a script: pysbd installs a stray top-level ``benchmarks`` package, so ``python -m`` would
find that one instead of this folder.

SQuAD: Rajpurkar et al., 2016, "SQuAD: 100,000+ Questions for Machine Comprehension of Text".
Wikipedia text and questions under CC BY-SA 4.0.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.evaluation.run import EvalReport
    from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "bench" / "squad-dev-v1.1.json.gz"
READER_HELD_OUT = REPO.parent / "shared" / "bench" / "dev-v2.0.json.gz"
DEFAULT_WORK = Path("/tmp/citebot-squad")
LICENSE_NOTE = "SQuAD v1.1 dev (Rajpurkar et al., 2016); Wikipedia text, CC BY-SA 4.0"
T = TypeVar("T")


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class SquadArticle:
    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[SquadQuestion, ...]


def load_squad(path: Path) -> tuple[SquadArticle, ...]:
    """The articles of a SQuAD v1.1 file (gzipped or not), in file order."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    return tuple(
        SquadArticle(
            title=article["title"],
            paragraphs=tuple(paragraph["context"] for paragraph in article["paragraphs"]),
            questions=tuple(
                SquadQuestion(
                    id=qa["id"],
                    question=" ".join(qa["question"].split()),
                    answers=tuple(dict.fromkeys(" ".join(a["text"].split()) for a in qa["answers"])),
                )
                for paragraph in article["paragraphs"]
                for qa in paragraph["qas"]
            ),
        )
        for article in data["data"]
    )


def paragraph_text(context: str) -> str:
    """One paragraph on one line: SQuAD's inner newlines are subscripts ("O\\n2"), not breaks."""
    return re.sub(r"[ \t]*\n[ \t]*", " ", context.strip())


def article_markdown(article: SquadArticle) -> str:
    """The article as citebot reads it: front matter with title and url, then blank-line paragraphs."""
    from bot.ingest.documents import front_matter
    from bot.models import Metadata

    metadata = Metadata(title=article.title.replace("_", " "), url=f"https://en.wikipedia.org/wiki/{article.title}")
    body = "\n\n".join(paragraph_text(paragraph) for paragraph in article.paragraphs)
    return f"{front_matter(metadata)}\n{body}\n"


def file_name(number: int, title: str) -> str:
    return f"{number:02d}_{re.sub(r'[^A-Za-z0-9.-]+', '_', title).strip('_')}.md"


def pick(questions: list[T], limit: int | None) -> list[T]:
    """``limit`` questions spread evenly over the set, so a subset still covers every article."""
    if limit is None or limit >= len(questions):
        return questions
    return [questions[index * len(questions) // limit] for index in range(limit)]


FOLDS = {"all": (0, 1), "even": (0,), "odd": (1,), "unread": (0, 1)}
"""Questions of even- or odd-numbered pages (in file order): `benchmarks/fit_scorer.py` fits on the
even fold, so the odd fold is the held-out figure. "unread": only the pages the trained reader never
read (``reader_held_out_titles``). Retrieval always runs over every page."""


def convert(
    articles: tuple[SquadArticle, ...], work: Path, limit: int | None, fold: str = "all"
) -> tuple[Path, Path, int]:
    """Write the documents folder and the question file; returns them and the question count."""
    documents = work / "documents"
    documents.mkdir(parents=True, exist_ok=True)
    wanted = {file_name(number, article.title): article for number, article in enumerate(articles)}
    for stale in documents.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
    for name, article in wanted.items():
        target = documents / name
        text = article_markdown(article)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    unread = reader_held_out_titles() if fold == "unread" else None
    asked = [
        (n, q)
        for n, article in enumerate(articles)
        if n % 2 in FOLDS[fold] and (unread is None or article.title in unread)
        for q in article.questions
    ]
    questions = pick(asked, limit)
    questions_path = work / "questions.jsonl"
    with questions_path.open("w", encoding="utf-8") as handle:
        for page, question in questions:
            record = {"question": question.question, "evidence": list(question.answers)}
            record |= {"id": question.id, "page": page}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return documents, questions_path, len(questions)


def documents_digest(documents: Path, model: str) -> str:
    """What the index was built from, so a rerun on the same subset reuses it."""
    digest = hashlib.sha256(model.encode())
    for path in sorted(documents.glob("*.md")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def open_engine(settings: Settings, stamp: Path, rebuild: bool) -> Engine:
    """The engine over the converted documents, building the index only when they (or the code's
    build settings) changed since the last run: a build embeds about 10k sentences."""
    from bot.engine import Engine
    from bot.errors import IndexMismatchError, IndexMissingError
    from bot.pipeline import build_index

    digest = documents_digest(settings.documents, settings.model)
    if not rebuild and stamp.exists() and stamp.read_text() == digest:
        try:
            return Engine.open(settings)
        except (IndexMissingError, IndexMismatchError) as error:
            print(f"rebuilding: {error}")
    started = time.perf_counter()
    report = build_index(settings, progress=sys.stderr.isatty())
    stamp.write_text(digest)
    print(f"{report.summary()} ({time.perf_counter() - started:.0f} s)")
    return Engine.open(settings)


def held_out_report(
    report: EvalReport, questions_path: Path, keep: Callable[[dict], bool], label: str
) -> EvalReport | None:
    """The same run's figures on the questions whose record ``keep`` accepts: a fold that something
    never learnt from."""
    from bot.evaluation.metrics import summarise
    from bot.evaluation.run import EvalReport

    records = [json.loads(line) for line in questions_path.read_text(encoding="utf-8").splitlines()]
    results = tuple(r for r in report.results if keep(records[r.question.line - 1]))
    if not results:
        return None
    return EvalReport(
        source=f"{report.source}, {label}",
        judge=report.judge,
        min_score=report.min_score,
        suggested_min_score=None,
        modes=tuple(summarise(results, mode.mode) for mode in report.modes),
        results=results,
    )


def reader_held_out_titles(path: Path = READER_HELD_OUT) -> frozenset[str]:
    """The pages the trained reader never read: the SQuAD 2.0 dev articles at odd positions."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return frozenset(article["title"] for article in json.load(handle)["data"][1::2])


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD v1.1 json(.gz)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where documents and index go")
    parser.add_argument("--articles", type=int, default=None, help="only the first N Wikipedia pages")
    parser.add_argument("--limit", type=int, default=None, help="only N questions, spread evenly")
    parser.add_argument(
        "--fold",
        choices=sorted(FOLDS),
        default="all",
        help="questions of even/odd pages (odd: held out from fit_scorer; unread: never read by the reader)",
    )
    parser.add_argument(
        "--modes", nargs="+", choices=("hybrid", "dense", "lexical"), default=None, help="retrieval modes (all)"
    )
    parser.add_argument("--min-score", type=float, default=None, help="override the index's threshold")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the index even if unchanged")
    parser.add_argument("--convert-only", action="store_true", help="write documents and questions, stop")
    args = parser.parse_args(argv)
    for name in ("articles", "limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if not args.data.is_file():
        print(f"SQuAD data not found at {args.data}; pass --data PATH.", file=sys.stderr)
        return 2
    articles = load_squad(args.data)[: args.articles]
    documents, questions_path, count = convert(articles, args.work, args.limit, args.fold)
    print(f"wrote {len(articles)} articles to {documents}, {count} questions to {questions_path}")
    if args.convert_only:
        return 0

    from bot.errors import CitebotError
    from bot.evaluation.machine import cpu_description
    from bot.evaluation.questions import load_questions
    from bot.evaluation.run import ALL_MODES, run_eval
    from bot.models import RetrievalMode
    from bot.render.evaluation import render_json, render_misses, render_report
    from bot.settings import Settings

    index = args.work / "index"
    settings = Settings(documents=documents, index=index, min_score=args.min_score, _env_file=None)
    try:
        engine = open_engine(settings, args.work / "index-built-from.txt", args.rebuild)
        questions = load_questions(questions_path)
        started = time.perf_counter()
        modes = ALL_MODES if args.modes is None else tuple(RetrievalMode(mode) for mode in args.modes)
        result = run_eval(engine, questions, modes, source=str(questions_path), progress=sys.stderr.isatty())
    except CitebotError as error:
        print(error, file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    (args.work / "report.json").write_text(render_json(result) + "\n", encoding="utf-8")
    (args.work / "misses-hybrid.txt").write_text(render_misses(result) + "\n", encoding="utf-8")
    print()
    print(render_report(result))
    unread = {page for page, article in enumerate(articles) if article.title in reader_held_out_titles()}
    folds = [
        (lambda record: record["page"] % 2 == 1, "odd pages only (held out from fit_scorer)"),
        (lambda record: record["page"] in unread, "pages the reader never trained on (SQuAD 2.0 dev, odd positions)"),
    ]
    for keep, label in {"all": folds, "unread": []}.get(args.fold, folds[1:]):
        held_out = held_out_report(result, questions_path, keep, label)
        if held_out is not None:
            print()
            print(render_report(held_out))
    print()
    print(f"data: {LICENSE_NOTE}, {args.data}")
    print(f"eval took {elapsed:.0f} s; JSON in {args.work / 'report.json'}, misses in {args.work}")
    print(f"CPU: {cpu_description()}")
    print(f"command: python benchmarks/squad.py {shlex.join(argv)}".rstrip())
    env = [] if args.min_score is None else [f"CITEBOT_MIN_SCORE={args.min_score}"]
    same = [*env, "citebot", "eval", str(questions_path), "--documents", str(documents)]
    same += ["--index", str(index)]
    print(f"same figures: {shlex.join(same)}")
    return 0


if __name__ == "__main__":
    # Run from a checkout: make `bot` importable without installing the project.
    sys.path.insert(0, str(REPO))
    sys.exit(main())
