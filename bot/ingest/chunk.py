"""Sentences with character offsets, grouped into passages of neighbouring sentences.

Sentences come from blingfire (a compiled, dictionary-free splitter: nothing to download). Passages
never cross a paragraph, so each reads as the article wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import blingfire

from bot.ingest.clean import PARAGRAPH_SEPARATOR
from bot.models import Chunk, Sentence, Span


@dataclass(frozen=True)
class ChunkingSettings:
    max_passage_chars: int = 700
    max_sentence_chars: int = 600

    def describe(self) -> str:
        """Recorded with the index, so an index built otherwise is recognised."""
        return (
            f"blingfire sentences <= {self.max_sentence_chars} chars; "
            f"paragraph passages <= {self.max_passage_chars} chars"
        )


def paragraphs(text: str) -> tuple[Span, ...]:
    """The paragraphs of clean text that hold anything but whitespace."""
    bounds = []
    start = 0
    for separator in re.finditer(re.escape(PARAGRAPH_SEPARATOR), text):
        bounds.append((start, separator.start()))
        start = separator.end()
    bounds.append((start, len(text)))
    return tuple(Span(a, b, text[a:b]) for a, b in bounds if text[a:b].strip())


def split_sentences(text: str, settings: ChunkingSettings = ChunkingSettings()) -> tuple[Sentence, ...]:
    """Every sentence of ``text`` with its offsets; runaway sentences are cut at word boundaries."""
    return tuple(
        sentence for paragraph in paragraphs(text) for sentence in _paragraph_sentences(text, paragraph, settings)
    )


def chunk(text: str, settings: ChunkingSettings = ChunkingSettings()) -> tuple[Chunk, ...]:
    """Passages: runs of neighbouring sentences of one paragraph, up to ``max_passage_chars``."""
    chunks: list[Chunk] = []
    for paragraph in paragraphs(text):
        group: list[Sentence] = []
        for sentence in _paragraph_sentences(text, paragraph, settings):
            if group and sentence.end - group[0].start > settings.max_passage_chars:
                chunks.append(_chunk_of(text, group))
                group = []
            group.append(sentence)
        if group:
            chunks.append(_chunk_of(text, group))
    return tuple(chunks)


def _chunk_of(text: str, sentences: list[Sentence]) -> Chunk:
    start, end = sentences[0].start, sentences[-1].end
    return Chunk(start, end, text[start:end], tuple(sentences))


def _paragraph_sentences(text: str, paragraph: Span, settings: ChunkingSettings) -> list[Sentence]:
    """blingfire's sentences of one paragraph (its offsets count characters), whitespace trimmed."""
    _, offsets = blingfire.text_to_sentences_and_offsets(paragraph.text)
    sentences = []
    for sentence_start, sentence_end in offsets:
        piece = paragraph.text[sentence_start:sentence_end]
        trimmed_start = paragraph.start + sentence_start + len(piece) - len(piece.lstrip())
        trimmed_end = paragraph.start + sentence_end - (len(piece) - len(piece.rstrip()))
        for a, b in _limit(text, trimmed_start, trimmed_end, settings.max_sentence_chars):
            sentences.append(Sentence(a, b, text[a:b]))
    return sentences


def _limit(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``limit`` at whitespace (or hard, if it has none)."""
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = cut if cut > start else start + limit
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():  # a hard cut may end on whitespace
            piece_end -= 1
        if piece_end > start:
            pieces.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces
