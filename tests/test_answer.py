from bot.answer import answer
from bot.models import IndexedArticle, Passage, Sentence, Span
from bot.read.thresholds import Thresholds

AT_HALF = Thresholds(answer=0.5, support=0.5, answer_words=0.5, source="test")

TEXT = (
    "Moscow said the reports were false. Russia has denied the allegations, officials said. The talks resume on Monday."
)


def article(document: str, text: str = TEXT) -> IndexedArticle:
    return IndexedArticle(
        id=document,
        document=document,
        title=f"Title of {document}",
        url=None,
        date=None,
        author=None,
        text=text,
        passages=1,
    )


def passage(
    document: str, sentence: str, score: float, text: str = TEXT, chunk_id: int = 1, words: str = "", sure: float = 0.0
) -> Passage:
    start = text.index(sentence)
    found = Span(text.index(words, start), text.index(words, start) + len(words), words) if words else None
    return Passage(
        chunk_id=chunk_id,
        article=article(document, text),
        start=0,
        end=len(text),
        text=text,
        score=score,
        sentence=Sentence(start, start + len(sentence), sentence),
        answer=found,
        answer_confidence=sure,
    )


def test_a_sentence_deep_in_its_passage_is_the_one_quoted() -> None:
    result = answer(
        "who denied it?",
        (passage("a.txt", "Russia has denied the allegations, officials said.", 0.9),),
        thresholds=AT_HALF,
    )
    [citation] = result.citations
    assert citation.sentence == "Russia has denied the allegations, officials said."
    assert citation.start == TEXT.index("Russia") and citation.passage == TEXT
    start, end = citation.start - citation.passage_start, citation.end - citation.passage_start
    assert citation.passage[start:end] == citation.sentence


def test_below_the_threshold_it_abstains_with_no_citation() -> None:
    result = answer("who denied it?", (passage("a.txt", "The talks resume on Monday.", 0.2),), thresholds=AT_HALF)
    assert not result.answered and result.citations == () and result.more == ()


def test_syndicated_copies_collapse_into_one_citation_naming_the_others() -> None:
    copy = "Syndicated.  Russia has denied   the allegations, officials said."
    result = answer(
        "who denied it?",
        (
            passage("a.txt", "Russia has denied the allegations, officials said.", 0.9),
            passage("b.txt", "Russia has denied   the allegations, officials said.", 0.8, text=copy, chunk_id=2),
            passage("c.txt", "The talks resume on Monday.", 0.7, chunk_id=3),
        ),
        thresholds=AT_HALF,
    )
    assert [c.document for c in result.citations] == ["a.txt", "c.txt"]
    assert result.citations[0].also_in == ("b.txt",)


def test_only_three_citations_are_the_answer_and_the_next_ones_are_kept_for_more() -> None:
    sentences = [f"Sentence number {n} is here." for n in range(7)]
    text = " ".join(sentences)
    passages = tuple(passage(f"{n}.txt", s, 0.9 - n / 100, text=text, chunk_id=n) for n, s in enumerate(sentences))
    result = answer("q", passages, thresholds=AT_HALF)
    assert [c.document for c in result.citations] == ["0.txt", "1.txt", "2.txt"]
    assert [c.document for c in result.more] == ["3.txt", "4.txt", "5.txt"]


def test_a_citation_that_is_not_verbatim_is_dropped() -> None:
    forged = passage("a.txt", "Moscow said the reports were false.", 0.9)
    forged = Passage(**{**forged.__dict__, "sentence": Sentence(0, 10, "Kyiv said ")})
    assert not answer("q", (forged,), thresholds=AT_HALF).answered


def test_the_best_citation_decides_and_the_others_are_shown_when_they_answer_on_their_own() -> None:
    strict_support = Thresholds(answer=0.5, support=0.8, answer_words=0.5, source="test")
    passages = (
        passage("a.txt", "Russia has denied the allegations, officials said.", 0.9),
        passage("b.txt", "Moscow said the reports were false.", 0.85, chunk_id=2),
        passage("c.txt", "The talks resume on Monday.", 0.6, chunk_id=3),
    )
    result = answer("who denied it?", passages, thresholds=strict_support)
    assert [c.document for c in result.citations] == ["a.txt", "b.txt"], "0.6 answers the question, not on its own"
    lenient_support = Thresholds(answer=0.95, support=0.1, answer_words=0.5, source="test")
    assert not answer("who denied it?", passages, thresholds=lenient_support).answered, "the best one decides"


def test_answer_words_are_kept_only_when_the_span_is_sure() -> None:
    sentence = "Russia has denied the allegations, officials said."
    sure = answer("who?", (passage("a.txt", sentence, 0.9, words="Russia", sure=0.7),), thresholds=AT_HALF)
    unsure = answer("who?", (passage("a.txt", sentence, 0.9, words="Russia", sure=0.3),), thresholds=AT_HALF)
    assert sure.citations[0].answer == Span(TEXT.index("Russia"), TEXT.index("Russia") + 6, "Russia")
    assert unsure.answered and unsure.citations[0].answer is None
