from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from bot.ingest.clean import PARAGRAPH_SEPARATOR, clean, is_chrome
from bot.models import Article
from tests.conftest import SHIPPED_DOCUMENTS

SEED = next(SHIPPED_DOCUMENTS.glob("000_*.txt"))


def article_of(text: str, title: str = "") -> Article:
    return Article(id="x", document="x.txt", title=title, text=text)


def assert_traceable(source: str, article: Article) -> None:
    """Every kept character is the source's own, in the source's order: cleaning only cuts text out
    (markers, chrome, surrounding whitespace) and joins paragraphs with a blank line of its own."""
    rest = iter(source)
    for paragraph in article.text.split(PARAGRAPH_SEPARATOR):
        assert all(character in rest for character in paragraph), f"{paragraph!r} is not the source's, in order"


def test_the_seed_loses_its_page_chrome_and_link_markers() -> None:
    source = SEED.read_text(encoding="utf-8")
    article = clean(article_of(source))
    for chrome in ("Donate", "Leave a Reply", "MORE ON THE TOPIC:", "(LINK)"):
        assert chrome not in article.text
    assert article.text.startswith("Israel has joined the US propaganda campaign")
    assert article.text.endswith("were fighting in Libya.")
    assert "Russia has denied the allegations" in article.text
    assert "The press release also claims that:" in article.text
    assert_traceable(source, article)


def test_other_scraped_pages_lose_their_chrome_too() -> None:
    page = (
        "Skip to content\nHome\nSubscribe\nRELATED ARTICLES:\n"
        "The minister said the talks would resume on Monday in Geneva. [VIDEO]\n"
        "Share this:\nhttps://example.org/share?id=1\n"
        "Officials declined to comment (read more) on the report.\n"
        "Advertisement\nYou may also like\n"
    )
    article = clean(article_of(page))
    assert article.text == (
        "The minister said the talks would resume on Monday in Geneva.\n\nOfficials declined to comment on the report."
    )
    assert_traceable(page, article)


def test_hard_wrapped_paragraphs_stay_whole_and_headings_are_kept() -> None:
    text = (
        "# Talks resume\n\nThe minister said the talks would resume on Monday in Geneva\n"
        "after weeks of delay, and that both sides had agreed.\n\nSee the [full report](https://x.org) here.\n"
    )
    article = clean(article_of(text))
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0] == "Talks resume"
    assert paragraphs[1].startswith("The minister said") and paragraphs[1].endswith("had agreed.")
    assert paragraphs[2] == "See the full report here."
    assert_traceable(text, article)


def test_title_falls_back_to_the_first_sentence_and_keeps_a_given_one() -> None:
    text = "Donate\nReports of jets in Libya have nothing to do with reality, Moscow said. More text follows.\n"
    assert clean(article_of(text)).title == "Reports of jets in Libya have nothing to do with reality, Moscow said."
    assert clean(article_of(text, title="Given")).title == "Given"


def test_chrome_rules() -> None:
    assert is_chrome("Leave a Reply") and is_chrome("MORE ON THE TOPIC:") and is_chrome("Donate")
    assert not is_chrome("Well, there is no denying it now.")
    assert not is_chrome("The press release also claims that:")


lines = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=80),
        st.sampled_from(["Donate", "(LINK)", "Share this:", "A sentence that ends.", "  ", "[video] x"]),
    ),
    max_size=12,
)


@given(lines)
def test_every_kept_character_is_traceable_to_the_source(parts: list[str]) -> None:
    text = "\n".join(parts)
    article = clean(article_of(text))
    assert_traceable(text, article)
    assert_traceable(text, clean(replace(article, title="")))
