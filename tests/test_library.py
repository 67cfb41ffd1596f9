"""The library that the command line and the Discord bot both hold: which questions it records as gaps,
what adding and following bring into the index, and that one update of the index runs at a time."""

from __future__ import annotations

import errno
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.errors import DiskError
from bot.ingest.feeds import PollResult, SavedArticle
from bot.library import Library
from bot.pipeline import BuildReport, build_index
from bot.settings import Settings
from tests.conftest import FAKE_ANSWERABLE, copy_collection
from tests.fakes import HashingEmbedder

UNANSWERABLE = "How do I bake sourdough bread?"
LIGHTHOUSE = """---
title: Lighthouse keeper retires
---
The last lighthouse keeper of Vardø retired after forty years. The light itself has run on its own since
the spring, and the harbour office will look after the tower from now on.
"""
FEED = "https://example.org/feed.xml"


@pytest.fixture
def collection(fake_settings: Settings, tmp_path: Path) -> Settings:
    """A copy of the fast tier's articles and index, of this test's own."""
    return copy_collection(fake_settings, tmp_path)


@pytest.fixture
def library(collection: Settings) -> Library:
    return Library(collection, Engine.open(collection, HashingEmbedder(), reader=None))


def feed_bringing(documents: Path, *articles: str) -> PollResult:
    """What polling a feed returns after saving ``articles`` (Markdown texts) into ``documents``."""
    saved = []
    for number, text in enumerate(articles, start=1):
        path = documents / f"feed-story-{number}.md"
        path.write_text(text, encoding="utf-8")
        saved.append(SavedArticle(f"Story {number}", None, path))
    return PollResult(FEED, "Harbour News", added=tuple(saved), not_modified=not saved)


# ---- asking -------------------------------------------------------------------------------------


def test_an_abstention_is_recorded_as_a_gap_and_an_answer_is_not(library: Library) -> None:
    answered = library.ask(FAKE_ANSWERABLE, asker=7, where="#general")
    abstained = library.ask(UNANSWERABLE, asker=7, where="#general")
    assert answered.answered and not abstained.answered
    [gap] = library.gaps()
    assert (gap.question, gap.count, gap.askers) == (UNANSWERABLE, 1, 1)


def test_askers_are_counted_as_people_and_a_question_asked_again_is_not_recorded(library: Library) -> None:
    library.ask(UNANSWERABLE, asker=7, where="cli")
    library.trace(UNANSWERABLE, asker=7, where="#general")
    library.ask(UNANSWERABLE, asker=8, where="#general")
    library.ask(UNANSWERABLE)  # "More sources" asking a stored question again: no one asked it anew
    [gap] = library.gaps()
    assert (gap.count, gap.askers) == (3, 2)


# ---- adding and following -----------------------------------------------------------------------


def test_an_added_file_is_indexed_and_answers_the_next_question(library: Library, tmp_path: Path) -> None:
    source = tmp_path / "lighthouse.md"
    source.write_text(LIGHTHOUSE, encoding="utf-8")

    addition = library.add(str(source))
    assert addition.added.title == "Lighthouse keeper retires" and not addition.added.already_present
    assert addition.indexed.checked().added == 1 and addition.indexed.swapped
    answer = library.ask("who retired after forty years?")
    assert answer.answered and answer.citations[0].title == "Lighthouse keeper retires"

    again = library.add(str(source))
    assert again.added.already_present and not again.indexed.checked().published, "nothing changed"


def test_only_addresses_are_added_where_files_are_not_allowed(library: Library, tmp_path: Path) -> None:
    source = tmp_path / "lighthouse.md"
    source.write_text(LIGHTHOUSE, encoding="utf-8")
    with pytest.raises(Exception, match="Only http"):
        library.add(str(source), files=False)
    assert not any(article.title == "Lighthouse keeper retires" for article in library.articles())


def test_following_a_feed_indexes_what_it_brought_and_a_poll_with_nothing_new_builds_nothing(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = library.settings.documents
    monkeypatch.setattr("bot.ingest.feeds.follow_feed", lambda settings, url: feed_bringing(documents, LIGHTHOUSE))
    followed = library.follow(FEED)
    assert followed.added == 1 and followed.indexed is not None and followed.indexed.checked().added == 1
    assert library.ask("who retired after forty years?").answered

    monkeypatch.setattr("bot.ingest.feeds.update_feeds", lambda settings: (feed_bringing(documents),))
    monkeypatch.setattr("bot.pipeline.build_index", no_build)
    polled = library.poll()
    assert polled.added == 0 and polled.indexed is None


def no_build(*args: object, **kwargs: object) -> BuildReport:
    raise AssertionError("nothing was added, so nothing is built")


# ---- one update at a time -----------------------------------------------------------------------


def test_an_update_that_fails_says_why_and_the_previous_index_serves(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> BuildReport:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(library.settings.index))

    monkeypatch.setattr("bot.pipeline.build_index", disk_full)
    update = library.reindex()
    assert update.report is None and isinstance(update.failure, OSError)
    with pytest.raises(OSError):
        update.checked()
    assert library.ask(FAKE_ANSWERABLE).answered


def test_one_update_of_the_index_runs_at_a_time(
    library: Library, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first_built, first_may_finish = threading.Event(), threading.Event()
    building = threading.Lock()
    builds: list[BuildReport] = []

    def one_at_a_time(settings: Settings, progress: bool = False, embedder: object = None) -> BuildReport:
        """The real build, which then holds on until the test lets it finish."""
        if not building.acquire(blocking=False):
            raise DiskError("two builds ran at once")
        try:
            builds.append(build_index(settings, progress=progress, embedder=embedder))  # type: ignore[arg-type]
            first_built.set()
            first_may_finish.wait(10)
            return builds[-1]
        finally:
            building.release()

    monkeypatch.setattr("bot.pipeline.build_index", one_at_a_time)
    source = tmp_path / "lighthouse.md"
    source.write_text(LIGHTHOUSE, encoding="utf-8")
    with ThreadPoolExecutor(2) as pool:
        try:
            reindexing = pool.submit(library.reindex)
            assert first_built.wait(10) and library.indexing
            adding = pool.submit(library.add, str(source))
            with pytest.raises(TimeoutError):
                adding.result(timeout=0.2)  # saved, and its update waits for the running one
        finally:
            first_may_finish.set()
        reindexed, added = reindexing.result(10), adding.result(10).indexed
    assert reindexed.failure is None and added.failure is None and len(builds) == 2
    assert added.checked().added == 1 and not library.indexing
