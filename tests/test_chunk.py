from hypothesis import example, given
from hypothesis import strategies as st

from bot.ingest.chunk import ChunkingSettings, chunk, split_sentences
from bot.ingest.clean import clean
from tests.test_clean import SEED, article_of

SEED_ARTICLE = clean(article_of(SEED.read_text(encoding="utf-8")))


def assert_offsets_hold(text: str, settings: ChunkingSettings | None = None) -> None:
    settings = settings or ChunkingSettings()
    for sentence in split_sentences(text, settings):
        assert text[sentence.start : sentence.end] == sentence.text
        assert sentence.text == sentence.text.strip() and sentence.text
    for passage in chunk(text, settings):
        assert text[passage.start : passage.end] == passage.text
        assert "\n\n" not in passage.text
        for sentence in passage.sentences:
            assert text[sentence.start : sentence.end] == sentence.text
            assert passage.start <= sentence.start < sentence.end <= passage.end


def test_the_seed_splits_into_sentences_that_slice_back() -> None:
    sentences = split_sentences(SEED_ARTICLE.text)
    assert len(sentences) > 30
    assert (
        "Russia has denied the allegations, and claimed that the military contractors"
        in sentences[[s.text.startswith("Russia has denied") for s in sentences].index(True)].text
    )
    assert_offsets_hold(SEED_ARTICLE.text)


def test_passages_are_neighbouring_sentences_of_one_paragraph_within_the_limit() -> None:
    settings = ChunkingSettings(max_passage_chars=300)
    passages = chunk(SEED_ARTICLE.text, settings)
    assert all(len(p.text) <= 300 or len(p.sentences) == 1 for p in passages)
    sentences = [s for p in passages for s in p.sentences]
    assert sentences == list(split_sentences(SEED_ARTICLE.text, settings))


def test_a_runaway_sentence_is_cut_at_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(400))
    sentences = split_sentences(text, ChunkingSettings(max_sentence_chars=200))
    assert all(len(s.text) <= 200 for s in sentences)
    assert " ".join(s.text for s in sentences) == text


paragraph = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@given(st.lists(paragraph, max_size=6), st.integers(20, 800), st.integers(10, 400))
@example(["0000000000000000000\r0"], 20, 10)  # a hard cut just after a space-like character
def test_offsets_always_slice_back_on_generated_text(parts: list[str], passage: int, sentence: int) -> None:
    assert_offsets_hold("\n\n".join(parts), ChunkingSettings(max_passage_chars=passage, max_sentence_chars=sentence))
