"""The network trained as the reader, its batches, and its export to the int8 ONNX that citebot runs."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import torch
from torch import nn

from bot.read.encoding import MAX_TOKENS, ReaderCandidate, encode_pairs, load_tokenizer
from training.data import Pair

UNCALIBRATED = {"scale": 1.0, "gap_scale": 0.0, "offset": 0.0}
"""reader.json's calibration until ``training/calibrate_reader.py`` fits it on the int8 model."""


class ReaderNetwork(nn.Module):
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


def export(trained: ReaderNetwork, base: Path, work: Path, command: str, output: Path, titles: bool = True) -> None:
    """ONNX with eager attention (it traces to plain ops), then int8 weights; ``reader.json`` says whether
    the model learnt with titles."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    work.mkdir(parents=True, exist_ok=True)
    model = ReaderNetwork(AutoModel.from_pretrained(str(base), attn_implementation="eager"))
    model.load_state_dict(trained.cpu().float().state_dict())
    model.eval()
    tokenizer_path = base / "tokenizer.json"
    example = encode_pairs(load_tokenizer(tokenizer_path), "who?", [ReaderCandidate("a", "b c", "d")])
    ids, mask, types, _, _ = tensors([Pair(x.ids, x.types, 0.0, (-1, -1)) for x in example] * 2, torch.device("cpu"))
    full = work / "reader.fp32.onnx"
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
                "calibration": UNCALIBRATED,
                "max_tokens": MAX_TOKENS,
                "titles": titles,
                "command": command,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
