"""Speed and size at scale: builds a large corpus from SQuAD's Wikipedia text and prints build
throughput beside raw ``model.encode``, incremental rebuild time, warm question latency beside the
time to embed one query, cold ``citebot ask``, peak memory while serving, the index's size on disk
against its article text, and recall@10 of the stored (float16, and HNSW) vectors against exact
float32 search on real embeddings of SQuAD sentences and questions.

    .venv/bin/python benchmarks/scale.py --passages 50000
    .venv/bin/python benchmarks/scale.py --passages 50000 --fake-embedder --skip latency cold

``--fake-embedder`` builds with the deterministic hashing embedder of the tests instead of the model
(minutes instead of most of an hour on 2 cores). The index is recorded under the real model's name
and gets the real ONNX query model, so `citebot index` and `citebot ask` in a new process run as they
would (they embed new text and questions with the model); only the stored vectors mean nothing, so
latency figures hold but answers do not. The shipped articles are always indexed with the real model
(else the relevance floor turns most questions away unread). Recall always embeds real sentences with the model.

The corpus, its index and a JSON copy of the figures go to ``--work`` (default under /tmp), never
into the repository. Real articles come first; where SQuAD's text runs out, new articles are made
with a fixed seed from its sentences, each spliced from two real sentences at a word boundary, so
every sentence is new to the embedding cache and the build embeds as much text as the corpus holds
(recombining whole sentences would let the cache skip all but the ~10,000 real ones).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.embed.encoder import Embedder, SentenceTransformerEmbedder  # noqa: E402
from bot.embed.onnx import OnnxEmbedder, reuse_or_export  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.evaluation.machine import cpu_description  # noqa: E402
from bot.ingest.chunk import chunk, split_sentences  # noqa: E402
from bot.ingest.documents import front_matter, read_article, scan_documents  # noqa: E402
from bot.models import Article, Metadata  # noqa: E402
from bot.pipeline import build_index  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.layout import QUERY_MODEL, query_model_folder  # noqa: E402
from bot.store.schema import current_build  # noqa: E402
from tests.fakes import HashingEmbedder  # noqa: E402

SQUAD = ROOT.parent / "shared" / "bench" / "squad-dev-v1.1.json.gz"
CITEBOT = Path(sys.executable).with_name("citebot")
FIGURES: dict[str, object] = {}


@dataclass(frozen=True)
class SquadArticle:
    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[str, ...]


def say(line: str) -> None:
    print(line, flush=True)


def record(key: str, value: object, line: str) -> None:
    FIGURES[key] = value
    say(f"  {line}")


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def percentile(values: Sequence[float], share: float) -> float:
    return float(np.percentile(np.asarray(values), share * 100))


def read_squad(path: Path) -> list[SquadArticle]:
    data = json.loads(gzip.decompress(path.read_bytes()))
    return [
        SquadArticle(
            title=item["title"].replace("_", " "),
            paragraphs=tuple(" ".join(p["context"].split()) for p in item["paragraphs"]),
            questions=tuple(q["question"] for p in item["paragraphs"] for q in p["qas"]),
        )
        for item in data["data"]
    ]


def write_article(path: Path, title: str, paragraphs: Sequence[str]) -> int:
    """Write one article and return how many passages the chunker makes of it."""
    text = "\n\n".join(paragraphs)
    path.write_text(front_matter(Metadata(title=title)) + "\n" + text + "\n", encoding="utf-8")
    return len(chunk(text))


def spliced_sentences(pool: Sequence[str], rng: random.Random, seen: set[str]) -> Callable[[], str]:
    """New sentences: the start of one real sentence joined to the end of another."""

    def make() -> str:
        while True:
            first, second = rng.choice(pool).split(), rng.choice(pool).split()
            cut_first = rng.randint(max(1, len(first) // 3), max(1, 2 * len(first) // 3))
            cut_second = rng.randint(max(1, len(second) // 3), max(1, 2 * len(second) // 3))
            sentence = " ".join(first[:cut_first] + second[cut_second:])
            if sentence not in seen:
                seen.add(sentence)
                return sentence

    return make


def make_corpus(articles: list[SquadArticle], documents: Path, passages: int, seed: int) -> int:
    """Real articles first, then spliced ones, until the chunker counts ``passages``."""
    stamp = documents / ".corpus.json"
    wanted = {"passages": passages, "seed": seed, "version": 1}
    if stamp.is_file() and json.loads(stamp.read_text())["wanted"] == wanted:
        for extra in documents.glob("extra-*.md"):
            extra.unlink()
        return int(json.loads(stamp.read_text())["passages_made"])
    shutil.rmtree(documents, ignore_errors=True)
    documents.mkdir(parents=True)
    made = 0
    for number, article in enumerate(articles):
        if made >= passages:
            break
        made += write_article(documents / f"real-{number:03d}.md", article.title, article.paragraphs)
    pool = [s.text for a in articles for p in a.paragraphs for s in split_sentences(p) if len(s.text.split()) >= 6]
    rng = random.Random(seed)
    sentence = spliced_sentences(pool, rng, set(pool))
    number = 0
    while made < passages:
        paragraphs = [" ".join(sentence() for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(20, 50))]
        title = f"Spliced article {number:05d}: " + " ".join(paragraphs[0].split()[:6])
        made += write_article(documents / f"spliced-{number:05d}.md", title, paragraphs)
        number += 1
    stamp.write_text(json.dumps({"wanted": wanted, "passages_made": made}))
    return made


def indexed_articles(documents: Path) -> list[Article]:
    """The articles of ``documents`` as a build reads them (every file here is readable: the benchmark wrote it)."""
    return [read_article(found) for found in scan_documents(documents)]


def sentence_texts(documents: Path) -> list[str]:
    """The distinct sentences a build of ``documents`` embeds, found the way the pipeline finds them."""
    articles = indexed_articles(documents)
    return list(dict.fromkeys(s.text for a in articles for c in chunk(a.text) for s in c.sentences))


def measure_build(settings: Settings, embedder: Embedder, raw_texts: int, seed: int) -> None:
    """The build, between two timings of raw model.encode on a sample of the same sentences, so
    that both see the same machine (other processes come and go on a shared one)."""
    say(f"\nBuild ({load_average()})")
    shutil.rmtree(settings.index, ignore_errors=True)
    if not isinstance(embedder, SentenceTransformerEmbedder):
        report = build_index(settings, embedder=embedder)
        record("build_seconds", report.seconds, f"build with {embedder.name}: {report.summary()}")
        graft_query_model(settings)
        return
    texts = sentence_texts(settings.documents)
    sample = random.Random(seed).sample(texts, min(raw_texts, len(texts)))

    def raw_seconds() -> float:
        started = time.perf_counter()
        embedder.model.encode(sample, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return (time.perf_counter() - started) * len(texts) / len(sample)

    before = raw_seconds()
    say(f"  ({load_average()})")
    report = build_index(settings, embedder=embedder)
    say(f"  ({load_average()})")
    after = raw_seconds()
    rate = report.passages / report.seconds
    record("build_seconds", report.seconds, f"build: {report.summary()}")
    record("build_passages_per_s", rate, f"build throughput: {rate:,.1f} passages/s")
    raw_rate = report.passages / ((before + after) / 2)
    record(
        "raw_passages_per_s",
        raw_rate,
        f"raw model.encode on the build's {len(texts):,} sentences (timed on {len(sample):,}, before and after "
        f"the build): {before:,.1f} s and {after:,.1f} s, mean {raw_rate:,.1f} passages/s",
    )
    record("build_vs_raw", rate / raw_rate, f"build / raw: {rate / raw_rate:.0%} (target >= 90%)")
    onnx = Engine.open(settings).embedder
    if isinstance(onnx, OnnxEmbedder):
        started = time.perf_counter()
        onnx.embed(sample)
        onnx_seconds = (time.perf_counter() - started) * len(texts) / len(sample)
        record(
            "onnx_passages_per_s",
            report.passages / onnx_seconds,
            f"for comparison, the exported ONNX model on the same sentences: {onnx_seconds:,.1f} s "
            f"= {report.passages / onnx_seconds:,.1f} passages/s",
        )
    say(f"  ({load_average()})")


def graft_query_model(settings: Settings) -> None:
    """Give a build made with the hashing embedder the real ONNX query model (exported once into the
    work folder), as a build made with the model has; later builds hard-link it from there."""
    build = current_build(settings.index)
    assert build is not None
    exported = settings.index.parent / "exported-query-model"
    if not exported.is_dir():
        reuse_or_export(SentenceTransformerEmbedder(settings.model), settings.model, None, exported.parent)
        query_model_folder(exported.parent).rename(exported)
    shutil.copytree(exported, query_model_folder(build), copy_function=os.link, dirs_exist_ok=True)


def measure_incremental(settings: Settings, embedder: Embedder, articles: list[SquadArticle]) -> None:
    say(f"\nIncremental rebuild after adding one article of new text ({load_average()})")
    pool = [s.text for a in articles for p in a.paragraphs for s in split_sentences(p) if len(s.text.split()) >= 6]
    rng = random.Random(time.time_ns())  # new text on every run: no earlier build may know it
    sentence = spliced_sentences(pool, rng, set(pool))

    def new_article(path: Path) -> None:
        paragraphs = [" ".join(sentence() for _ in range(rng.randint(2, 5))) for _ in range(30)]
        write_article(path, f"New article {path.stem}", paragraphs)

    new_article(settings.documents / "extra-1.md")
    report = build_index(settings, embedder=embedder)
    record("incremental_in_process_s", report.seconds, f"in process, model loaded: {report.summary()}")
    command = [str(CITEBOT), "index", "--documents", str(settings.documents), "--index", str(settings.index)]
    label = "`citebot index`"
    new_article(settings.documents / "extra-2.md")
    started = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    seconds = time.perf_counter() - started
    record("incremental_cli_s", seconds, f"{label} in a new process: {seconds:.2f} s wall ({output})")
    started = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    seconds = time.perf_counter() - started
    record("unchanged_cli_s", seconds, f"{label} with nothing changed: {seconds:.2f} s wall ({output})")


def measure_size(label: str, settings: Settings) -> None:
    """Bytes of the index (each hard-linked file once; the ONNX query model, shared by the builds,
    aside) against the UTF-8 bytes of the articles' clean text."""
    text = sum(len(article.text.encode("utf-8")) for article in indexed_articles(settings.documents))
    seen: set[int] = set()
    size = 0
    for path in settings.index.rglob("*"):
        if path.is_file() and QUERY_MODEL not in path.parts and path.stat().st_ino not in seen:
            seen.add(path.stat().st_ino)
            size += path.stat().st_size
    key = label.split()[0]
    FIGURES[f"size_{key}"] = {"index_bytes": size, "text_bytes": text, "ratio": size / text}
    say(
        f"  index size, {label}: {size / 1e6:,.1f} MB for {text / 1e6:,.1f} MB of article text "
        f"= {size / text:.1f}x (target <= 15x; query model aside)"
    )


def measure_latency(label: str, settings: Settings, questions: Sequence[str]) -> None:
    say(f"\nWarm question latency, {label} ({load_average()})")
    engine = Engine.open(settings)
    embedder = engine.embedder
    for question in questions[:3]:
        engine.ask(question)
    embed_times, ask_times = [], []
    for question in questions:
        started = time.perf_counter()
        embedder.embed([question])
        embed_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        engine.ask(question)
        ask_times.append(time.perf_counter() - started)
    p50, p95, embed = percentile(ask_times, 0.5), percentile(ask_times, 0.95), percentile(embed_times, 0.5)
    key = label.split()[0]
    FIGURES[f"latency_{key}"] = {
        "p50": p50,
        "p95": p95,
        "embed_p50": embed,
        "questions": len(questions),
        "judge": engine.judge,
    }
    say(
        f"  {engine.info.articles:,} articles, {engine.info.passages:,} passages, {len(questions)} questions, "
        f"{type(embedder).__name__}, judge {engine.judge}: ask p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; "
        f"embedding one query p50 {embed * 1000:.1f} ms; p50 / embed = {p50 / embed:.1f}x"
    )


def measure_cold_ask(label: str, settings: Settings, question: str, runs: int) -> None:
    command = [str(CITEBOT), "ask", "--documents", str(settings.documents), "--index", str(settings.index), question]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    FIGURES[f"cold_ask_{label.split()[0]}"] = {"median": statistics.median(times), "min": min(times)}
    say(
        f"  cold `citebot ask`, {label}: median {statistics.median(times):.2f} s, min {min(times):.2f} s "
        f"over {runs} runs (target <= 1.5 s; {load_average()})"
    )


# VmHWM, not ru_maxrss: the latter carries over the parent's peak through fork and exec.
SERVE = """
import json, sys
from bot.engine import Engine
from bot.settings import Settings
engine = Engine.open(Settings(documents=sys.argv[1], index=sys.argv[2], _env_file=None))
for question in json.loads(sys.argv[3]):
    engine.ask(question)
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""


def measure_memory(settings: Settings, questions: Sequence[str]) -> None:
    command = [sys.executable, "-c", SERVE, str(settings.documents), str(settings.index), json.dumps(list(questions))]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    megabytes = int(output.strip().splitlines()[-1]) / 1024
    record(
        "peak_rss_mb",
        megabytes,
        f"peak RSS of a process serving the large corpus ({len(questions)} questions): "
        f"{megabytes:,.0f} MB (target <= 1,536 MB)",
    )


def measure_recall(work: Path, articles: list[SquadArticle], questions: Sequence[str], count: int) -> None:
    """Recall@10 of the vectors as the index stores them (float16 exact, float16 HNSW) against exact
    float32 search, on real embeddings of ``count`` SQuAD sentences (cached in the work folder)."""
    import faiss

    from bot.store.vectors import exact_index, filled, graph_index

    say(f"\nStored vectors against exact float32 search, {len(questions)} real questions ({load_average()})")
    cache = work / f"recall-{count}-{len(questions)}.npz"
    if cache.is_file():
        saved = np.load(cache)
        vectors, queries = saved["vectors"], saved["queries"]
    else:
        pool = list(dict.fromkeys(s.text for a in articles for p in a.paragraphs for s in split_sentences(p)))
        sample = random.Random(0).sample(pool, min(count, len(pool)))
        model = SentenceTransformerEmbedder()
        vectors, queries = model.embed(sample), model.embed(list(questions))
        np.savez(cache, vectors=vectors, queries=queries)
    ids = np.arange(len(vectors), dtype=np.int64)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    truth, exact_ms = _search(exact, queries, 10)
    say(f"  {len(vectors):,} vectors: exact float32 {exact_ms:.2f} ms/query")
    rows: dict[str, object] = {"vectors": len(vectors), "exact_ms": exact_ms}
    for name, index in (("float16 exact", exact_index), ("float16 HNSW", graph_index)):
        started = time.perf_counter()
        stored = filled(index(vectors.shape[1]), ids, vectors)
        built = time.perf_counter() - started
        found, ms = _search(stored, queries, 10)
        recall = _recall(truth, found, 10)
        rows[name] = {"ms": ms, "recall10": recall, "build_s": built}
        say(f"  {name}: {ms:.2f} ms/query, recall@10 {recall:.4f} (target >= 0.99), built in {built:.1f} s")
    FIGURES["recall"] = rows


def _search(index: object, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    rows = []
    started = time.perf_counter()
    for query in queries:
        rows.append(index.search(query.reshape(1, -1), k)[1][0])  # type: ignore[attr-defined]
    return np.vstack(rows), (time.perf_counter() - started) * 1000 / len(queries)


def _recall(truth: np.ndarray, found: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(t[:k]) & set(f[:k])) / k for t, f in zip(truth, found, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=50_000, help="passages in the large corpus")
    parser.add_argument("--work", type=Path, default=Path("/tmp/citebot-scale"), help="work folder (not the repo)")
    parser.add_argument("--questions", type=int, default=200, help="SQuAD questions for latency and recall")
    parser.add_argument("--raw-texts", type=int, default=20_000, help="sentences timed with raw model.encode")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--recall-sentences", type=int, default=10_000, help="real sentences embedded for recall")
    parser.add_argument("--fake-embedder", action="store_true", help="build with the tests' hashing embedder")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["build", "incremental", "size", "latency", "cold", "recall"]
    )
    arguments = parser.parse_args()
    say("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    say(f"CPU: {cpu_description()}; {load_average()}; work folder {arguments.work}")
    work = arguments.work / f"p{arguments.passages}-s{arguments.seed}"
    articles = read_squad(SQUAD)
    started = time.perf_counter()
    made = make_corpus(articles, work / "documents", arguments.passages, arguments.seed)
    say(f"corpus: ~{made:,} passages in {work / 'documents'} ({time.perf_counter() - started:.1f} s)")
    model = Settings(_env_file=None).model
    large = Settings(documents=work / "documents", index=work / "index", model=model, _env_file=None)
    single = Settings(documents=ROOT / "documents", index=work / "single-index", model=model, _env_file=None)
    squad_questions = [q for a in articles for q in a.questions]
    questions = random.Random(arguments.seed).sample(squad_questions, arguments.questions)
    eval_questions = [
        json.loads(line)["question"]
        for name in ("dev.jsonl", "test.jsonl")
        for line in (ROOT / "eval" / name).read_text().splitlines()
        if line.strip()
    ]

    embedder: Embedder = HashingEmbedder() if arguments.fake_embedder else SentenceTransformerEmbedder(model)
    started = time.perf_counter()
    embedder.embed(["load the model before timing"])
    say(f"{embedder.name} loaded in {time.perf_counter() - started:.1f} s")
    if "build" not in arguments.skip:
        measure_build(large, embedder, arguments.raw_texts, arguments.seed)
    if "incremental" not in arguments.skip:
        measure_incremental(large, embedder, articles)
    shutil.rmtree(single.index, ignore_errors=True)
    # Always the real model here (seconds for 25 articles): with hashing vectors the relevance floor,
    # fitted on the real model's scores, turns most questions away unread and the latency means nothing.
    build_index(single, embedder=None if arguments.fake_embedder else embedder)
    if "size" not in arguments.skip:
        say(f"\nSize on disk ({load_average()})")
        measure_size("large corpus", large)
        measure_size("shipped news articles", single)
    if "latency" not in arguments.skip:
        measure_latency("shipped articles, eval questions", single, eval_questions)
        measure_latency("large corpus, SQuAD questions", large, questions)
    if "cold" not in arguments.skip:
        say(f"\nCold start and memory ({load_average()})")
        measure_cold_ask("shipped articles", single, eval_questions[0], 5)
        measure_cold_ask("large corpus", large, questions[0], 3)
        measure_memory(large, questions[:50])
    if "recall" not in arguments.skip:
        measure_recall(work, articles, questions, arguments.recall_sentences)
    FIGURES["command"] = shlex.join([Path(sys.executable).name, *sys.argv])
    FIGURES["peak_rss_benchmark_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = work / "figures.json"
    earlier = json.loads(figures.read_text()) if figures.is_file() else {}
    figures.write_text(json.dumps(earlier | FIGURES, indent=2) + "\n")
    say(f"\nfigures written to {work / 'figures.json'} ({load_average()})")


if __name__ == "__main__":
    main()
