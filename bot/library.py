"""The collection as the command line and the Discord bot both use it: one ``Library`` each.

It opens the engine when it is first needed (building the index first when there is none), records
the questions the sources don't cover, and runs every update of the index (after ``add``, ``follow``,
``poll`` or ``reindex``) behind one lock, swapping the new index in once it is published. Each
operation returns a small typed outcome; the edges parse, call, and render it.

The stages are imported where they are used, so a command that needs one of them starts quickly.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.engine import Engine, Trace
    from bot.gaps import Gap
    from bot.ingest.feeds import Feed, PollResult
    from bot.ingest.fetch import Added
    from bot.models import Answer, IndexedArticle, IndexInfo
    from bot.pipeline import BuildReport
    from bot.settings import Settings

log = logging.getLogger(__name__)

COMMAND_LINE = "cli"
"""Where a question asked at the command line is recorded as asked."""
WARM_UP = "warm up the model before the first question"


@dataclass(frozen=True)
class Reindexed:
    """One update of the index: the build's report and whether questions now use a new index; or the
    failure that left the previous index serving."""

    report: BuildReport | None
    swapped: bool = False
    failure: Exception | None = None

    def checked(self) -> BuildReport:
        """The report; the failure raised instead, for an edge where it ends the command."""
        if self.failure is not None:
            raise self.failure
        assert self.report is not None, "an update without a failure has a report"
        return self.report


@dataclass(frozen=True)
class Addition:
    """An article saved into the documents folder (or found there already), and the index update after."""

    added: Added
    indexed: Reindexed


@dataclass(frozen=True)
class Polled:
    """What polling followed feeds brought, one result per feed, and the index update that took the
    new articles in (none when there were none)."""

    results: tuple[PollResult, ...]
    indexed: Reindexed | None

    @property
    def added(self) -> int:
        return sum(len(result.added) for result in self.results)


def command_line_user() -> int | None:
    """The person at the command line, by their OS user id (None where the platform has none)."""
    getuid = getattr(os, "getuid", None)
    return getuid() if getuid is not None else None


class Library:
    """The articles, their index and the engine answering from it; safe to call from several threads.

    ``progress`` shows the progress of index updates on stderr; ``announce`` is told, in a sentence,
    what the library does unasked (building a missing index before the first question)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        *,
        progress: bool = False,
        announce: Callable[[str], None] = log.info,
    ) -> None:
        self.settings = settings
        self.progress = progress
        self.announce = announce
        self._engine = engine
        self._opening = threading.Lock()
        self._indexing = threading.Lock()

    # ---- asking ------------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine over the published index, opened on first use."""
        if self._engine is None:
            with self._opening:
                if self._engine is None:
                    self._engine = self._open()
        return self._engine

    @property
    def info(self) -> IndexInfo:
        return self.engine.info

    def articles(self) -> tuple[IndexedArticle, ...]:
        return self.engine.articles()

    def load(self) -> IndexInfo:
        """Open the engine now and warm its model, so that the first question is not the slow one."""
        self.engine.embedder.embed([WARM_UP])
        return self.info

    def ask(
        self, question: str, context: str | None = None, asker: int | None = None, where: str | None = None
    ) -> Answer:
        """The answer to ``question``, read with ``context`` (the question it follows). When the sources
        don't cover it, it is recorded for `gaps` as asked in ``where`` (a Discord channel, or `cli`) by
        ``asker`` (a Discord user id, or the OS user's), kept only as a salted hash; a question asked
        again with no ``where`` (to show more of an earlier answer) is not recorded."""
        answer = self.engine.ask(question, context=context)
        self._note_gap(answer, asker, where)
        return answer

    def trace(
        self, question: str, context: str | None = None, asker: int | None = None, where: str | None = None
    ) -> Trace:
        """``ask``, with everything the question went through (for ``--explain`` and ``-v``)."""
        trace = self.engine.trace(question, context)
        self._note_gap(trace.answer, asker, where)
        return trace

    def gaps(self) -> tuple[Gap, ...]:
        """The questions the sources did not cover, most asked first."""
        from bot.gaps import coverage_gaps

        return coverage_gaps(self.settings.index)

    # ---- changing the collection -------------------------------------------------------------------

    def add(self, source: str, *, files: bool = True) -> Addition:
        """Save the article at ``source`` (an http(s) address, or with ``files`` a file too) into the
        documents folder, then update the index; also when the article was there already, since the add
        that saved it may have failed to index it. A source that cannot be saved raises."""
        from bot.ingest import fetch

        documents, private = self.settings.documents, self.settings.allow_private_urls
        if files:
            added = fetch.add_source(source, documents, allow_private=private)
        else:
            added = fetch.add_url(source, documents, allow_private=private)
        return Addition(added, self.reindex())

    def follow(self, url: str) -> Polled:
        """Follow the feed at ``url`` and fetch it at once, then update the index with what it brought.
        A feed that cannot be followed raises, and nothing is stored."""
        from bot.ingest import feeds

        return self._indexed((feeds.follow_feed(self.settings, url),))

    def unfollow(self, url: str) -> None:
        from bot.ingest.feeds import unfollow_feed

        unfollow_feed(self.settings, url)

    def feeds(self) -> tuple[Feed, ...]:
        from bot.ingest.feeds import followed_feeds

        return followed_feeds(self.settings)

    def poll(self) -> Polled:
        """Poll every followed feed once, then update the index with what they brought."""
        from bot.ingest import feeds

        return self._indexed(feeds.update_feeds(self.settings))

    @property
    def indexing(self) -> bool:
        """Whether an update of the index is running now."""
        return self._indexing.locked()

    def reindex(self) -> Reindexed:
        """Bring the index up to date with the documents folder and swap it in. One update runs at a
        time: a second waits for the first, then finds little or nothing left to do."""
        with self._indexing:
            try:
                report = self._build()
                swapped = self._engine.refresh() if self._engine is not None else False
            except Exception as error:
                return Reindexed(None, failure=error)
        return Reindexed(report, swapped)

    # ---- inside ------------------------------------------------------------------------------------

    def _indexed(self, results: tuple[PollResult, ...]) -> Polled:
        return Polled(results, self.reindex() if any(result.added for result in results) else None)

    def _build(self) -> BuildReport:
        """A build with the loaded engine's embedder, so that an update loads no second model."""
        from bot import pipeline

        if self._engine is None:
            return pipeline.build_index(self.settings, progress=self.progress)
        return pipeline.build_index(self.settings, progress=self.progress, embedder=self._engine.embedder)

    def _open(self) -> Engine:
        """The engine over the published index; when there is none yet, the index is built first."""
        from bot.embed.encoder import SentenceTransformerEmbedder
        from bot.engine import Engine
        from bot.errors import IndexMissingError
        from bot.pipeline import build_index

        try:
            return Engine.open(self.settings)
        except IndexMissingError:
            pass
        embedder = SentenceTransformerEmbedder(self.settings.model)
        articles = article_files(self.settings.documents)
        if articles:
            self.announce(
                f"There is no index in {self.settings.index} yet: building it from the {articles} "
                f"article{'' if articles == 1 else 's'} in {self.settings.documents} first."
            )
        self.announce(build_index(self.settings, progress=True, embedder=embedder).summary())
        return Engine.open(self.settings, embedder)

    def _note_gap(self, answer: Answer, asker: int | None, where: str | None) -> None:
        if answer.answered or where is None:
            return
        from bot.gaps import record_gap

        record_gap(self.settings.index, answer.question, where, self._hashed(asker), answer.confidence)

    def _hashed(self, person: int | None) -> str | None:
        """The person as a salted hash (None for no one, or when the salt cannot be read)."""
        from bot.feedback import feedback_path, hash_user, installation_salt

        if person is None:
            return None
        try:
            return hash_user(person, installation_salt(feedback_path(self.settings)))
        except OSError as error:
            log.warning("Cannot read the feedback salt: %s", error)
            return None


def article_files(folder: Path) -> int:
    """How many article files ``folder`` holds, counted by name without reading them (the build reads them)."""
    from bot.ingest.documents import SUPPORTED_SUFFIXES

    if not folder.is_dir():
        return 0
    return sum(
        path.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
        for path in folder.rglob("*")
    )
