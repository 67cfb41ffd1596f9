"""The Discord renderer: any Answer fits Discord's limits, the answering sentence is bold and intact."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import Answer, Citation, IndexInfo
from bot.render.chat import (
    ELLIPSIS,
    by_article,
    escape,
    limit_problems,
    render_abstention,
    render_answer,
    render_more,
    text_fragment_url,
)
from tests.discord_standin import message_problems

INFO = IndexInfo(
    model="m",
    dimension=384,
    chunking="c",
    built_at="2025-11-25T13:14:00+00:00",
    articles=12,
    passages=345,
    sentences=900,
)


def citation(before: str, sentence: str, after: str, **fields: object) -> Citation:
    passage = before + sentence + after
    values: dict[str, object] = {
        "document": "doc.txt",
        "title": "A title",
        "url": "https://example.com/a",
        "date": "2020-05-28",
        "passage": passage,
        "passage_start": 100,
        "sentence": sentence,
        "start": 100 + len(before),
        "end": 100 + len(before) + len(sentence),
        "score": 0.8,
    }
    values.update(fields)
    return Citation(**values)  # type: ignore[arg-type]


def bold_segments(markdown: str) -> list[str]:
    """The literal text of each bold run, reading escapes the way Discord does."""
    segments: list[str] = []
    current: list[str] | None = None
    i = 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown):
            if current is not None:
                current.append(markdown[i + 1])
            i += 2
        elif markdown.startswith("**", i):
            if current is None:
                current = []
            else:
                segments.append("".join(current))
                current = None
            i += 2
        else:
            if current is not None:
                current.append(markdown[i])
            i += 1
    assert current is None, "unbalanced bold markers"
    return [s.replace("@\u200b", "@").replace("<@\u200b", "<@") for s in segments]


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown, flags=re.DOTALL).replace("@\u200b", "@")


def check_sentence_shown(shown: str, sentence: str) -> None:
    """Whole, or cut at a word boundary with a visible ellipsis (mid-word only for a giant word)."""
    sentence = sentence.strip()
    if shown == sentence:
        return
    assert shown.endswith(ELLIPSIS), (shown, sentence)
    prefix = shown[: -len(ELLIPSIS)]
    assert sentence.startswith(prefix) and len(prefix) < len(sentence)
    if re.search(r"\s", sentence[: len(prefix) + 1]):
        assert sentence[len(prefix)].isspace(), "the sentence was cut mid-word"


text_alphabet = st.characters(
    codec="utf-8", exclude_characters="\u200b", exclude_categories=("Cs", "Cc")
) | st.sampled_from(["*", "_", "~", "|", "`", "\\", "[", "]", "(", ")", ">", "#", "-", "@", "\n", " "])
words = st.text(text_alphabet, max_size=60) | st.sampled_from(["@everyone", "<@&123>", "<@456>", "@here", "**"])
texts = st.lists(words, max_size=40).map(" ".join) | st.text(text_alphabet, max_size=3000)
sentences = texts.filter(lambda s: s.strip() != "")
urls = st.none() | st.sampled_from(
    ["https://example.com/a", "http://example.com/x(y) z", "ftp://nope", "https://example.com/p#frag", "x"]
)
citations = st.builds(
    citation,
    before=texts,
    sentence=sentences,
    after=texts,
    title=st.text(text_alphabet, max_size=400),
    url=urls,
    date=st.none() | st.text(text_alphabet, max_size=60),
    also_in=st.lists(st.just("other.txt"), max_size=3).map(tuple),
    document=st.sampled_from(["a.txt", "b.txt", "c.txt"]),
)
answers = st.builds(
    Answer,
    question=st.text(text_alphabet, min_size=1, max_size=600),
    answered=st.booleans(),
    citations=st.lists(citations, max_size=5).map(tuple),
    more=st.lists(citations, max_size=4).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(answers)
def test_any_answer_fits_discord_and_bolds_exactly_its_sentences(answer: Answer) -> None:
    for reply, shown in (
        (render_answer(answer, INFO), answer.citations),
        (render_more(answer, INFO), answer.more),
    ):
        assert limit_problems(reply) == []
        payload = {"content": reply.content, "embeds": [e.to_dict() for e in reply.embeds]}
        assert message_problems(payload) == []
        if not reply.embeds:
            continue
        groups = by_article(shown[:3])
        segments = bold_segments(reply.embeds[0].description or "")
        assert len(segments) == len(groups) + len(shown[:3]), "a numbered title per article, a sentence per quote"
        first = 1 if shown is answer.citations else len(by_article(answer.citations[:3])) + 1
        position = 0
        for number, group in enumerate(groups, first):
            assert segments[position] == f"{number}."
            for offset, cited in enumerate(group, 1):
                check_sentence_shown(segments[position + offset], cited.sentence)
            position += 1 + len(group)


def test_abstention_is_plain_text_without_citations() -> None:
    answer = Answer(question="what is the airspeed of a swallow?", answered=False)
    reply = render_answer(answer, INFO)
    assert reply.embeds == () and reply.content is not None
    assert "don't cover" in reply.content and "swallow" in reply.content
    answered_without_citations = Answer(question="q", answered=True)
    assert render_answer(answered_without_citations, INFO).embeds == ()


def test_a_5000_character_paragraph_keeps_the_sentence_and_trims_context_on_both_sides() -> None:
    before = "Lorem ipsum dolor sit amet. " * 90
    after = " Sed do eiusmod tempor incididunt." * 70
    three = tuple(citation(before, "Russia has denied the allegations.", after, document=f"{n}.txt") for n in range(3))
    reply = render_answer(Answer("who denied?", True, three), INFO)
    description = reply.embeds[0].description or ""
    assert limit_problems(reply) == []
    assert len(description) <= 4096
    assert bold_segments(description)[1::2] == ["Russia has denied the allegations."] * 3
    block = description.split("\n\n")[0].split("\n", 1)[1]
    assert block.startswith(ELLIPSIS) and block.endswith(ELLIPSIS)
    assert len(block) <= 1024


def test_an_overlong_sentence_is_cut_at_a_word_with_a_visible_ellipsis() -> None:
    sentence = " ".join(f"word{i}" for i in range(600))
    reply = render_answer(Answer("q", True, (citation("", sentence, ""),)), INFO)
    shown = bold_segments(reply.embeds[0].description or "")[1]
    assert shown.endswith(ELLIPSIS) and len(shown) < 1024
    check_sentence_shown(shown, sentence)


def test_quoted_text_cannot_ping_or_format() -> None:
    cited = citation("Hey @everyone and <@&123>, ", "**this** is _not_ ours.", " > quote", title="[x](http://e)")
    description = render_answer(Answer("q", True, (cited,)), INFO).embeds[0].description or ""
    assert "@everyone" not in description and "<@&123>" not in description
    assert "@everyone" in unescape(description) and "<@&123>" in unescape(description).replace("<@\u200b", "<@")
    assert bold_segments(description) == ["1.", "**this** is _not_ ours."]
    assert escape("a*") == "a\\*"


def test_text_fragment_links_follow_the_wicg_syntax() -> None:
    short = text_fragment_url("https://example.com/a#top", "Moscow said, well-known & true")
    assert short == "https://example.com/a#:~:text=Moscow%20said%2C%20well%2Dknown%20%26%20true"
    long_sentence = "one two three four five six seven eight nine ten eleven twelve"
    assert text_fragment_url("https://e.com/p", long_sentence) == (
        "https://e.com/p#:~:text=one%20two%20three%20four,nine%20ten%20eleven%20twelve"
    )
    assert text_fragment_url(None, "x") is None
    assert text_fragment_url("ftp://e.com/x", "x") is None
    assert text_fragment_url("https://e.com/a b(c)", "x") == "https://e.com/a%20b%28c%29#:~:text=x"


def test_header_links_the_title_and_shows_the_date() -> None:
    cited = citation("", "Russia has denied the allegations.", "", title="Libya", date="2020-05-28")
    description = render_answer(Answer("q", True, (cited,)), INFO).embeds[0].description or ""
    header = description.split("\n")[0]
    assert header == (
        "**1.** [Libya](https://example.com/a#:~:text=Russia%20has%20denied%20the%20allegations.) · 2020-05-28"
    )


def test_quotes_from_one_article_share_its_title_and_every_article_shows_a_date() -> None:
    first = citation("", "The jets were repainted.", " More.", title="Libya")
    other = citation("", "Moscow denied it.", "", document="b.txt", title="Moscow", date=None)
    second = citation("Before. ", "The planes came via Syria.", "", title="Libya")
    description = render_answer(Answer("q", True, (first, other, second)), INFO).embeds[0].description or ""
    assert description.count("[Libya]") == 1 and description.count("**1.**") == 1
    libya, moscow = description.split("\n\n")
    assert "The jets were repainted." in libya and "The planes came via Syria." in libya and "2020-05-28" in libya
    assert moscow.startswith("**2.** [Moscow]") and "· undated" in moscow.splitlines()[0]
    assert bold_segments(description) == [
        "1.",
        "The jets were repainted.",
        "The planes came via Syria.",
        "2.",
        "Moscow denied it.",
    ]


def test_more_sources_without_more_says_so() -> None:
    reply = render_more(Answer("q", True, (citation("", "s", ""),)), INFO)
    assert reply.embeds == () and reply.content is not None and "no further sources" in reply.content


def test_abstention_escapes_the_question() -> None:
    content = render_abstention("@everyone **ping**", INFO).content or ""
    assert "@everyone" not in content and "\\*\\*ping\\*\\*" in content
