"""The reader's training data: SQuAD questions with the sentences they are judged against, as token pairs.

Candidates for a question are sentences of its paragraph (the answering ones and others) and the
sentence of another paragraph of the same article that shares most of its words ("on topic, but it
does not answer"); a v2.0 unanswerable question has only negatives. A negative's span target is [CLS],
"no answer here", as in SQuAD 2.0 readers. Never used: the v2.0 dev articles at odd positions (held out
for ``benchmarks/reader.py``) with every question on them, v1.1 or v2.0, and ``eval/test.jsonl``.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from bot.ingest.chunk import split_sentences
from bot.ingest.documents import split_front_matter
from bot.read.encoding import ReaderCandidate, encode_pairs

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
VALIDATION_POSITIONS = (0, 12, 24)  # v2.0 dev article positions (even, so never held out) kept for validation
OTHER_PARAGRAPH_NEGATIVES = 1
UNTAUGHT_TRAIN_ARTICLES = 40
"""The last this many SQuAD v1.1 train articles are never taught, so that the reader's verdicts on them
are fair data for fitting how the reply weighs them against retrieval (``benchmarks/fit_blend.py``)."""
NO_ANSWER = (0, 0)  # the span target of a sentence that does not answer: [CLS]
STOP = frozenset(
    "a an the of in on at to for from by with and or is are was were be been what which who whom whose when where "
    "why how did does do that this these those it its as into than then there their they he she his her".split()
)


@dataclass(frozen=True)
class Question:
    text: str
    sentences: tuple[str, ...]  # the paragraph's sentences, in order
    answers: tuple[tuple[int, int, int], ...]  # (sentence index, start, end) of each gold answer inside it
    others: tuple[ReaderCandidate, ...]  # hard negatives from other paragraphs, with their neighbours
    answerable: bool
    title: str = ""  # the article's, which the reader sees with every candidate
    elsewhere: tuple[ReaderCandidate, ...] = ()  # negatives from other articles (``with_elsewhere``)
    lookalike: tuple[ReaderCandidate, ...] = ()  # negatives under a title like the question (``with_lookalikes``)
    swapped: str = ""  # the question with a name or number swapped, which its answer does not answer (``swaps.py``)


@dataclass(frozen=True)
class Pair:
    ids: tuple[int, ...]
    types: tuple[int, ...]
    label: float
    span: tuple[int, int]  # token positions of the answer words, or (-1, -1)


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.casefold()) if w not in STOP}


def load_train_set() -> list[dict]:
    """SQuAD v1.1 train: 442 articles, disjoint from both dev sets (``../shared/bench/README.md``)."""
    with gzip.open(BENCH / "train-v1.1.json.gz") as data:
        return json.load(data)["data"]


def taught_train_articles() -> list[dict]:
    """The SQuAD v1.1 train articles the reader may learn from: all but the untaught ones."""
    return load_train_set()[:-UNTAUGHT_TRAIN_ARTICLES]


def load_squad() -> tuple[list[dict], set[str], set[str]]:
    """Articles to learn from (v1.1 and v2.0 questions merged per paragraph), held-out and validation titles."""
    with gzip.open(BENCH / "squad-dev-v1.1.json.gz") as one, gzip.open(BENCH / "dev-v2.0.json.gz") as two:
        v1, v2 = json.load(one)["data"], json.load(two)["data"]
    held_out = {article["title"] for article in v2[1::2]}
    validation = {v2[position]["title"] for position in VALIDATION_POSITIONS}
    merged: dict[str, dict[str, dict[str, dict]]] = {}
    for article in v1 + v2:
        if article["title"] in held_out:
            continue
        paragraphs = merged.setdefault(article["title"], {})
        for paragraph in article["paragraphs"]:
            questions = paragraphs.setdefault(paragraph["context"], {})
            for qa in paragraph["qas"]:
                questions.setdefault(qa["id"], qa)
    articles = [
        {"title": title, "paragraphs": [{"context": c, "qas": list(q.values())} for c, q in paragraphs.items()]}
        for title, paragraphs in merged.items()
    ]
    return articles, held_out, validation


def neighbours(sentences: tuple[str, ...], i: int, title: str = "") -> ReaderCandidate:
    """Sentence ``i`` with the sentences around it and its article's title, as the reader sees it
    ("" at a paragraph's edge)."""
    return ReaderCandidate(
        previous=sentences[i - 1] if i else "",
        sentence=sentences[i],
        next=sentences[i + 1] if i + 1 < len(sentences) else "",
        title=title,
    )


def article_title(article: dict) -> str:
    """A SQuAD title as a headline: "Super_Bowl_50" is "Super Bowl 50"."""
    return article["title"].replace("_", " ")


def answer_sentences(sentences, qa: dict) -> tuple[tuple[int, int, int], ...]:
    """(sentence, start, end) of each gold answer: the occurrence SQuAD's ``answer_start_overlap`` picks
    first (it shares most words with the question), then every other sentence that holds the answer text,
    so that no copy of the answer is ever taught as a negative."""
    found = []
    for answer in qa.get("answers", []):
        text = answer["text"]
        start = answer.get("answer_start_overlap", answer["answer_start"])
        end = start + len(text)
        for i, sentence in enumerate(sentences):
            if sentence.start <= start < sentence.end:
                found.append((i, start - sentence.start, min(end, sentence.end) - sentence.start))
    for answer in qa.get("answers", []):
        text = answer["text"]
        for i, sentence in enumerate(sentences):
            at = sentence.text.find(text) if text else -1
            if at >= 0 and all(i != j for j, _, _ in found):
                found.append((i, at, at + len(text)))
    return tuple(dict.fromkeys(found))


def squad_questions(article: dict, others: int = OTHER_PARAGRAPH_NEGATIVES) -> list[Question]:
    """The article's questions, each with its paragraph's sentences and ``others`` hard negatives from
    its other paragraphs: the sentences that share most (idf-weighted) words with the question and do
    not hold any gold answer text ("on topic, but it does not answer")."""
    paragraphs = []
    for paragraph in article["paragraphs"]:
        context = paragraph["context"]
        sentences = split_sentences(context)
        paragraphs.append((context, sentences))
    title = article_title(article)
    every = [(p, i, s.text) for p, (_, sentences) in enumerate(paragraphs) for i, s in enumerate(sentences)]
    vocabulary = [words(text) for _, _, text in every]
    frequency = Counter(w for v in vocabulary for w in v)
    idf = {w: math.log(len(every) / n) for w, n in frequency.items()}
    questions = []
    for p, paragraph in enumerate(article["paragraphs"]):
        context, sentences = paragraphs[p]
        texts = tuple(s.text for s in sentences)
        for qa in paragraph["qas"]:
            golds = [a["text"].casefold() for a in qa.get("answers", []) if a["text"]]
            chosen: list[ReaderCandidate] = []
            if others:
                asked = words(qa["question"])
                overlap = [
                    (sum(idf.get(w, 0.0) for w in asked & vocab), k)
                    for k, ((q, _, text), vocab) in enumerate(zip(every, vocabulary, strict=True))
                    if q != p and not any(g in text.casefold() for g in golds)
                ]
                overlap.sort(key=lambda item: (-item[0], item[1]))
                for _, k in overlap[:others]:
                    q, i, _ = every[k]
                    chosen.append(neighbours(tuple(sibling.text for sibling in paragraphs[q][1]), i, title))
            answers = answer_sentences(sentences, qa)
            questions.append(Question(qa["question"], texts, answers, tuple(chosen), bool(answers), title))
    return questions


def hardest_in_paragraph(question: Question) -> list[int]:
    """The paragraph's sentences that do not answer, most question words first (ties: in order)."""
    asked = words(question.text)
    positive = {i for i, _, _ in question.answers}
    return sorted(
        (i for i in range(len(question.sentences)) if i not in positive),
        key=lambda i: (-len(asked & words(question.sentences[i])), i),
    )


def project_questions() -> list[Question]:
    """eval/dev.jsonl over the seed article: evidence sentences are positives, with no answer words."""
    seed = ROOT / "documents" / "000_a252677522aeadfb.txt"
    metadata, article = split_front_matter(seed.read_text(encoding="utf-8"))
    texts = tuple(s.text for s in split_sentences(article))
    questions = []
    for line in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        folded = [e.casefold() for e in item["evidence"]]
        positive = [i for i, t in enumerate(texts) if any(e in " ".join(t.split()).casefold() for e in folded)]
        asked = words(item["question"])
        near = sorted(range(len(texts)), key=lambda i: (-len(asked & words(texts[i])), i))[:6]
        chosen = sorted(set(near) | set(positive))
        local = tuple(texts[i] for i in chosen)
        answers = tuple((chosen.index(i), -1, -1) for i in positive)
        questions.append(Question(item["question"], local, answers, (), bool(answers), metadata.title or ""))
    return questions


def paragraph_pairs(tokenizer, question: Question, rng: random.Random, max_paragraph: int) -> list[Pair]:
    """The dev recipe: every answering sentence, random others of the paragraph up to ``max_paragraph``,
    and the other-paragraph negatives."""
    positive = {i for i, _, _ in question.answers}
    negatives = [i for i in range(len(question.sentences)) if i not in positive]
    rng.shuffle(negatives)
    chosen = sorted(positive | set(negatives[: max(0, max_paragraph - len(positive))]))
    return encoded_pairs(tokenizer, question, chosen, list(question.others))


def train_pairs(tokenizer, question: Question, kind: str) -> list[Pair]:
    """The train-set recipe, two pairs a question (one pass over many distinct questions): the answering
    sentence, and one negative of ``kind``: the paragraph sentence sharing most question words
    ("paragraph"), the other paragraph's on-topic sentence ("article") or another article's sentence
    sharing most question words ("elsewhere": the same kind of fact about another subject, which only
    the title may tell apart), or the answering sentence itself against the question with one of its
    names or numbers swapped ("swap": it names the same things but no longer answers)."""
    first = [question.answers[0][0]] if question.answers else []
    hardest = hardest_in_paragraph(question)
    if kind == "swap" and question.swapped and first:
        twin = replace(question, text=question.swapped, answers=())
        return encoded_pairs(tokenizer, question, first, []) + encoded_pairs(tokenizer, twin, first, [])
    if kind == "elsewhere" and question.elsewhere:
        return encoded_pairs(tokenizer, question, first, list(question.elsewhere[:1]))
    if kind == "title" and question.lookalike:
        return encoded_pairs(tokenizer, question, first, list(question.lookalike[:1]))
    if kind == "article" and question.others:
        return encoded_pairs(tokenizer, question, first, list(question.others[:1]))
    if hardest:
        return encoded_pairs(tokenizer, question, sorted([*first, hardest[0]]), [])
    return encoded_pairs(tokenizer, question, first, list(question.others[:1]))


def encoded_pairs(tokenizer, question: Question, chosen: list[int], others: list[ReaderCandidate]) -> list[Pair]:
    """Pairs for the paragraph sentences ``chosen`` and the ``others``; a negative's span target is [CLS]."""
    positive = {i for i, _, _ in question.answers}
    candidates = [neighbours(question.sentences, i, question.title) for i in chosen] + others
    labels = [1.0 if i in positive else 0.0 for i in chosen] + [0.0] * len(others)
    inputs = encode_pairs(tokenizer, question.text, candidates)
    spans = {i: (start, end) for i, start, end in reversed(question.answers)}  # the first gold answer wins
    pairs = []
    for position, (item, label) in enumerate(zip(inputs, labels, strict=True)):
        span = (-1, -1) if label else NO_ANSWER
        index = chosen[position] if position < len(chosen) else -1
        if index in spans and spans[index][0] >= 0:
            start, end = spans[index]
            tokens = [t for t, (a, b) in enumerate(item.candidate_offsets) if b > start and a < end]
            if tokens:
                span = (item.candidate_start + tokens[0], item.candidate_start + tokens[-1])
        pairs.append(Pair(item.ids, item.types, label, span))
    return pairs


def gold_texts(question: Question) -> list[str]:
    """The question's gold answer texts, case folded: a negative must hold none of them."""
    return [question.sentences[i][a:b].casefold() for i, a, b in question.answers if a >= 0]


def without_titles(question: Question) -> Question:
    """The question as a reader trained without titles saw it (``train_reader.py --titles off``)."""
    return replace(
        question,
        title="",
        others=tuple(replace(other, title="") for other in question.others),
        elsewhere=tuple(replace(other, title="") for other in question.elsewhere),
        lookalike=tuple(replace(other, title="") for other in question.lookalike),
    )


def with_elsewhere(questions: list[Question], articles: list[dict]) -> list[Question]:
    """Each question with one negative from another of ``articles``: the sentence sharing most
    (idf-weighted) question words that holds no gold answer text, with its own article's title."""
    import numpy as np
    from scipy.sparse import csr_matrix

    pool = [
        (article_title(article), texts, i)
        for article in articles
        for texts in (tuple(s.text for s in split_sentences(p["context"])) for p in article["paragraphs"])
        for i in range(len(texts))
    ]
    vocabulary: dict[str, int] = {}
    rows, columns = [], []
    for row, (_, texts, i) in enumerate(pool):
        for word in words(texts[i]):
            rows.append(row)
            columns.append(vocabulary.setdefault(word, len(vocabulary)))
    present = csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(pool), len(vocabulary)))
    idf = np.log(len(pool) / np.maximum(1.0, np.asarray(present.sum(axis=0)).ravel())).astype(np.float32)
    weighted = present.multiply(idf).tocsc().T.tocsr()
    titles = np.array([title for title, _, _ in pool])
    found = []
    for block in range(0, len(questions), 512):
        chunk = questions[block : block + 512]
        asked_rows, asked_columns = [], []
        for row, question in enumerate(chunk):
            for word in words(question.text):
                if word in vocabulary:
                    asked_rows.append(row)
                    asked_columns.append(vocabulary[word])
        asked = csr_matrix(
            (np.ones(len(asked_rows), dtype=np.float32), (asked_rows, asked_columns)),
            shape=(len(chunk), len(vocabulary)),
        )
        scores = (asked @ weighted).toarray()
        for row, question in enumerate(chunk):
            scores[row, titles == question.title] = -1.0
            golds = gold_texts(question)
            best = None
            for k in np.argsort(-scores[row], kind="stable")[:5]:
                title, texts, i = pool[int(k)]
                if scores[row, k] > 0 and not any(g and g in texts[i].casefold() for g in golds):
                    best = neighbours(texts, i, title)
                    break
            found.append(replace(question, elsewhere=(best,) if best else ()))
    return found


def with_lookalikes(questions: list[Question], articles: list[dict]) -> list[Question]:
    """Each question with one negative from the other article whose title shares most (idf-weighted)
    question words: its sentence sharing most question words and holding no gold text, read under that
    title. A headline about the question's subject does not make its sentences answers ("What is the
    capital of Australia?" against "Australian children suffering from iodine deficiency")."""

    titles = [article_title(article) for article in articles]
    title_words = [{w for w in words(title) if len(w) > 2} for title in titles]  # not the "s" of "Jehovah's"
    frequency = Counter(w for ws in title_words for w in ws)
    idf = {w: math.log(len(titles) / n) for w, n in frequency.items()}
    holding: dict[str, list[int]] = defaultdict(list)
    for k, ws in enumerate(title_words):
        for w in ws:
            holding[w].append(k)
    paragraphs: dict[int, list[tuple[str, ...]]] = {}
    found = []
    for question in questions:
        asked = words(question.text)
        scores: Counter[int] = Counter()
        for w in asked:
            for k in holding.get(w, ()):
                if titles[k] != question.title:
                    scores[k] += idf[w]
        best = None
        if scores:
            k = min(scores, key=lambda k: (-scores[k], k))
            if k not in paragraphs:
                paragraphs[k] = [
                    tuple(s.text for s in split_sentences(p["context"])) for p in articles[k]["paragraphs"]
                ]
            golds = gold_texts(question)
            ranked = sorted(
                (
                    (len(asked & words(texts[i])), p, i)
                    for p, texts in enumerate(paragraphs[k])
                    for i in range(len(texts))
                ),
                key=lambda item: (-item[0], item[1], item[2]),
            )
            for _, p, i in ranked[:5]:
                texts = paragraphs[k][p]
                if not any(g and g in texts[i].casefold() for g in golds):
                    best = neighbours(texts, i, titles[k])
                    break
        found.append(replace(question, lookalike=(best,) if best else ()))
    return found
