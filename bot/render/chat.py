"""Answer -> Discord message parts, always within Discord's limits. Pure functions: no client, no I/O.

Quoted text is escaped so that only our own highlighting (the bold answering sentence) is markdown, and
so that nothing in an article can look like a mention. When space runs out, the context around the
answering sentence goes first; the sentence itself is never cut mid-word, and a sentence too long for
its slot is shortened at a word boundary with a visible ellipsis.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import discord

from bot.answer import CITATIONS
from bot.models import Answer, Citation, IndexInfo
from bot.render.grouping import UNDATED, Marked, answer_in_sentence, by_article, headline, sentence_in_passage

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBEDS_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10

QUOTE_LIMIT = FIELD_VALUE_LIMIT  # one citation's quote (context + bold sentence) is at most a field long
TITLE_SHOWN = 150
LINK_LIMIT = 512
FRAGMENT_WORDS = 4
LONG_SENTENCE_WORDS = 2 * FRAGMENT_WORDS + 2
ELLIPSIS = "…"
BOLD = "**"
UNDERLINE = "__"
SEPARATOR = "\n\n"
QUOTE_SEPARATOR = "\n…\n"
COLOUR = discord.Colour(0x2B6CB0)

_ALWAYS = re.compile(r"([\\*_~|`\[\]])")
_LINE_START = re.compile(r"^(\s*)([-#>+]|\d+\.)", re.MULTILINE)
_MENTION = re.compile(r"@(everyone|here)|<@([!&]?\d+)>")
_WORD_GAP = re.compile(r"\s+")


@dataclass(frozen=True)
class DiscordReply:
    """What to send: ``content`` and/or embeds; never both empty."""

    content: str | None
    embeds: tuple[discord.Embed, ...] = ()


def escape(text: str) -> str:
    """Quoted text shows literally: markdown escaped char by char, mentions broken by a zero-width space.

    Unlike ``discord.utils.escape_markdown`` this escapes a lone ``*`` too, which matters because the
    escaped text sits next to our own ``**`` markers.
    """
    text = _ALWAYS.sub(r"\\\1", text)
    text = _LINE_START.sub(lambda m: m.group(1) + "".join("\\" + c for c in m.group(2)), text)
    return _MENTION.sub(lambda m: "@\u200b" + m.group(1) if m.group(1) else "<@\u200b" + m.group(2) + ">", text)


def shorten(text: str, limit: int) -> str:
    """Plain text within ``limit``, cut at a word boundary when there is one, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _word_starts(text: str) -> list[int]:
    return [m.end() for m in _WORD_GAP.finditer(text) if m.end() < len(text)]


def _word_ends(text: str) -> list[int]:
    return [m.start() for m in _WORD_GAP.finditer(text) if m.start() > 0]


def _fit(candidates: list[int], size: Callable[[int], int], budget: int) -> int | None:
    """The candidate giving the largest fitting ``size``; ``size`` grows with the index (binary search)."""
    low, high, best = 0, len(candidates) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if size(candidates[middle]) <= budget:
            best, low = candidates[middle], middle + 1
        else:
            high = middle - 1
    return best


def trim_before(text: str, budget: int) -> str:
    """The end of ``text``, escaped, starting at a word, within ``budget`` (``…`` marks the cut)."""
    escaped = escape(text)
    if len(escaped) <= budget:
        return escaped
    starts = sorted(_word_starts(text), reverse=True)  # later start = shorter suffix
    best = _fit(starts, lambda i: len(ELLIPSIS) + len(escape(text[i:])), budget)
    return "" if best is None else ELLIPSIS + escape(text[best:])


def trim_after(text: str, budget: int) -> str:
    """The start of ``text``, escaped, ending at a word, within ``budget`` (``…`` marks the cut)."""
    escaped = escape(text)
    if len(escaped) <= budget:
        return escaped
    best = _fit(_word_ends(text), lambda i: len(escape(text[:i])) + len(ELLIPSIS), budget)
    return "" if best is None else escape(text[:best]) + ELLIPSIS


def bold_sentence(sentence: str, budget: int, answer: Marked | None = None) -> str:
    """The answering sentence in bold, its answer words (``answer``, the sentence cut around them)
    underlined; if it cannot fit whole, cut at a word boundary with ``…`` (and without the underline)."""
    if answer is not None:
        marked = escape(answer.before) + UNDERLINE + escape(answer.marked) + UNDERLINE
        whole = BOLD + marked + escape(answer.after) + BOLD
        if len(whole) <= budget:
            return whole
    whole = BOLD + escape(sentence) + BOLD
    if len(whole) <= budget:
        return whole
    room = budget - 2 * len(BOLD) - len(ELLIPSIS)
    best = _fit(_word_ends(sentence), lambda i: len(escape(sentence[:i])), room)
    if best is None:  # a single word longer than the slot: nothing to do but cut inside it
        best = _fit(list(range(1, len(sentence))), lambda i: len(escape(sentence[:i])), room) or 0
    return BOLD + escape(sentence[:best]) + ELLIPSIS + BOLD


def quote_block(citation: Citation, budget: int) -> str:
    """Passage with the bold sentence; context trimmed evenly on both sides to fit ``budget``."""
    quote = sentence_in_passage(citation)
    before, sentence, after = quote.before, quote.marked, quote.after
    words = answer_in_sentence(citation)
    middle = bold_sentence(sentence, budget, words)
    room = budget - len(middle)
    if room <= 0 or middle.endswith(ELLIPSIS + BOLD):
        return middle
    share_before = max(room // 2, room - len(escape(after)))
    shown_before = trim_before(before, min(share_before, room))
    shown_after = trim_after(after, room - len(shown_before))
    return shown_before + middle + shown_after


def text_fragment_url(url: str | None, sentence: str) -> str | None:
    """``url#:~:text=...`` opening the page at the sentence (WICG text fragments), or None if unusable.

    Long sentences use ``textStart,textEnd`` (first and last words) to keep the link short and robust.
    """
    if not url or not url.startswith(("http://", "https://")):
        return None
    base = re.sub(r"[\s()<>]", lambda m: f"%{ord(m.group()):02X}", url.split("#", 1)[0])
    if not re.match(r"https?://[^/?#\s]+", base) or len(base) > LINK_LIMIT:
        return None
    words = sentence.split()
    if not words:
        return base
    if len(words) > LONG_SENTENCE_WORDS:
        directive = (
            _fragment_encode(" ".join(words[:FRAGMENT_WORDS]))
            + ","
            + _fragment_encode(" ".join(words[-FRAGMENT_WORDS:]))
        )
    else:
        directive = _fragment_encode(" ".join(words))
    link = f"{base}#:~:text={directive}"
    return link if len(link) <= LINK_LIMIT else base


def _fragment_encode(text: str) -> str:
    """Percent-encode a text directive term; ``-``, ``&`` and ``,`` are syntax there, so they are encoded."""
    return quote(text, safe="").replace("-", "%2D")


def citation_header(number: int, citation: Citation) -> str:
    """``**1.** [Title](link) · date``: the title links to the page at the quoted sentence."""
    title = escape(shorten(citation.title.strip() or citation.document, TITLE_SHOWN))
    link = text_fragment_url(citation.url, citation.sentence)
    shown = f"[{title}]({link})" if link else title
    parts = [f"**{number}.** {shown}", escape(shorten(citation.date, 40)) if citation.date else UNDATED]
    if citation.also_in:
        others = len(citation.also_in)
        parts.append(f"also in {others} other article{'s' if others != 1 else ''}")
    return " · ".join(parts)


def citations_description(citations: tuple[Citation, ...], first_number: int = 1) -> str:
    """A numbered block per article (title, date, then each of its quotes), sharing the
    description's 4096 characters fairly among the quotes."""
    groups = by_article(citations)
    headers = [citation_header(first_number + i, group[0]) for i, group in enumerate(groups)]
    quotes = len(citations)
    fixed = (
        sum(len(header) + 1 for header in headers)
        + len(SEPARATOR) * (len(groups) - 1)
        + len(QUOTE_SEPARATOR) * (quotes - len(groups))
    )
    left = DESCRIPTION_LIMIT - fixed
    blocks = []
    for header, group in zip(headers, groups, strict=True):
        shown = []
        for citation in group:
            quote_text = quote_block(citation, min(QUOTE_LIMIT, left // quotes))
            left -= len(quote_text)
            quotes -= 1
            shown.append(quote_text)
        blocks.append(f"{header}\n{QUOTE_SEPARATOR.join(shown)}")
    return SEPARATOR.join(blocks)


def footer_text(info: IndexInfo) -> str:
    return shorten(f"{info.articles} articles indexed · built {human_time(info.built_at)}", FOOTER_LIMIT)


def human_time(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def render_answer(answer: Answer, info: IndexInfo) -> DiscordReply:
    """An answer embed with up to three numbered citations, or a short plain abstention."""
    citations = answer.citations[:CITATIONS]
    if not answer.answered or not citations:
        return render_abstention(answer.question, info)
    embed = discord.Embed(
        title=shorten(escape(" ".join(answer.question.split())), TITLE_LIMIT),
        description=citations_description(citations),
        colour=COLOUR,
    )
    embed.set_footer(text=footer_text(info))
    opening = headline(answer)
    content = f"**{shorten(escape(opening), 300)}**" if opening else None
    return DiscordReply(content=content, embeds=(embed,))


def render_more(answer: Answer, info: IndexInfo) -> DiscordReply:
    """The next citations ("More sources"), numbered after the first ones."""
    more = answer.more[:CITATIONS]
    if not more:
        return DiscordReply(content="There are no further sources for this question.")
    embed = discord.Embed(
        title=shorten("More sources: " + escape(" ".join(answer.question.split())), TITLE_LIMIT),
        description=citations_description(more, first_number=len(by_article(answer.citations[:CITATIONS])) + 1),
        colour=COLOUR,
    )
    embed.set_footer(text=footer_text(info))
    return DiscordReply(content=None, embeds=(embed,))


def render_abstention(question: str, info: IndexInfo) -> DiscordReply:
    """Honest and short: no citation dressed up as an answer."""
    shown = shorten(escape(" ".join(question.split())), 300)
    return DiscordReply(
        content=(
            f"The sources don't cover this: none of the {info.articles} indexed articles has a passage "
            f"that answers “{shown}”. Try other words, or see `/sources` for what I have read."
        )
    )


def render_notice(text: str) -> DiscordReply:
    """A message of ours (a hint, or an error as ``public_message`` tells it) within the content limit,
    not escaped: its own markdown (`/reindex` as code) shows as written."""
    return DiscordReply(content=shorten(text, CONTENT_LIMIT))


def limit_problems(reply: DiscordReply) -> list[str]:
    """Every Discord limit the reply breaks (empty when it can be sent)."""
    problems = []
    if not reply.content and not reply.embeds:
        problems.append("empty message")
    if reply.content and len(reply.content) > CONTENT_LIMIT:
        problems.append(f"content {len(reply.content)} > {CONTENT_LIMIT}")
    if len(reply.embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"{len(reply.embeds)} embeds > {EMBEDS_PER_MESSAGE}")
    for embed in reply.embeds:
        if len(embed.title or "") > TITLE_LIMIT:
            problems.append(f"title {len(embed.title or '')} > {TITLE_LIMIT}")
        if len(embed.description or "") > DESCRIPTION_LIMIT:
            problems.append(f"description {len(embed.description or '')} > {DESCRIPTION_LIMIT}")
        if len(embed.footer.text or "") > FOOTER_LIMIT:
            problems.append(f"footer {len(embed.footer.text or '')} > {FOOTER_LIMIT}")
        problems.extend(
            f"field value {len(f.value or '')} > {FIELD_VALUE_LIMIT}"
            for f in embed.fields
            if len(f.value or "") > FIELD_VALUE_LIMIT
        )
    total = sum(len(embed) for embed in reply.embeds)
    if total > EMBEDS_TOTAL_LIMIT:
        problems.append(f"embeds total {total} > {EMBEDS_TOTAL_LIMIT}")
    return problems
