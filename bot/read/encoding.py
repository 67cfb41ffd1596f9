"""How the reader sees a question and a candidate sentence.

One token sequence, ``[CLS] question [SEP] title [SEP] previous sentence · candidate · next sentence [SEP]``,
with token type 1 on the candidate's tokens and 0 elsewhere: the title says what the article is about
(a sentence such as "Russia has denied the allegations" does not name its subject), the neighbours
give context, the token types say which sentence is being judged. Without a title (a reader trained
before titles) the title and its [SEP] are left out. Training (``training/``) and reading
(``bot.read.reader``) build it with this one function, so the model sees at run time exactly what
it learnt from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

MAX_TOKENS = 128
MAX_QUESTION_TOKENS = 40
MAX_CANDIDATE_TOKENS = 72
MAX_TITLE_TOKENS = 16


@dataclass(frozen=True)
class ReaderCandidate:
    """A sentence to judge, with the sentences around it as context ("" at a paragraph's edge) and the
    title of its article ("" where there is none, or the reader was trained without titles)."""

    previous: str
    sentence: str
    next: str
    title: str = ""


@dataclass(frozen=True)
class ReaderInput:
    """Token ids for one (question, candidate) pair, and where the candidate's tokens are."""

    ids: tuple[int, ...]
    types: tuple[int, ...]
    candidate_start: int
    candidate_offsets: tuple[tuple[int, int], ...]
    """(start, end) of each candidate token inside the candidate sentence, in order, as the tokenizer
    gives them: token positions inside one string, never article offsets."""


def load_tokenizer(path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def encode_pairs(tokenizer: Tokenizer, question: str, read: Sequence[ReaderCandidate]) -> list[ReaderInput]:
    """One input per candidate; long parts are trimmed to fit ``MAX_TOKENS``: the question first, then
    the context farthest from the candidate."""
    cls, sep = _special(tokenizer, "[CLS]"), _special(tokenizer, "[SEP]")
    texts = [question] + [part for c in read for part in (c.title, c.previous, c.sentence, c.next)]
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
    asked = encoded[0].ids[:MAX_QUESTION_TOKENS]
    inputs = []
    for index in range(len(read)):
        title, before, sentence, after = encoded[1 + 4 * index : 5 + 4 * index]
        heading = [*title.ids[:MAX_TITLE_TOKENS], sep] if title.ids else []
        own = sentence.ids[:MAX_CANDIDATE_TOKENS]
        room = MAX_TOKENS - 3 - len(asked) - len(heading) - len(own)
        previous_room = min(len(before.ids), room // 2)
        next_room = min(len(after.ids), room - previous_room)
        previous_room = min(len(before.ids), room - next_room)
        previous = before.ids[len(before.ids) - previous_room :] if previous_room else []
        following = after.ids[:next_room]
        ids = [cls, *asked, sep, *heading, *previous, *own, *following, sep]
        candidate_start = len(asked) + 2 + len(heading) + len(previous)
        types = [0] * len(ids)
        types[candidate_start : candidate_start + len(own)] = [1] * len(own)
        inputs.append(
            ReaderInput(
                ids=tuple(ids),
                types=tuple(types),
                candidate_start=candidate_start,
                candidate_offsets=tuple(sentence.offsets[: len(own)]),
            )
        )
    return inputs


def _special(tokenizer: Tokenizer, token: str) -> int:
    found = tokenizer.token_to_id(token)
    if found is None:
        raise ValueError(f"the reader's tokenizer has no {token} token")
    return found
