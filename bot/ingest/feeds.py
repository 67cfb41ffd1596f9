"""Followed RSS and Atom feeds: each new entry's page is fetched as `citebot add` fetches a page and
saved into the documents folder with the entry's title, address, date and author.

The subscriptions live in ``<index>/feeds.sqlite``, beside the builds, so rebuilding the index keeps
them. Polling is polite and bounded: conditional GET, at most ``feed_max_new`` new entries per feed
per poll, a feed that keeps failing is tried less and less often, and an entry is never fetched twice.
Saving files is all this module does; the caller updates the index once afterwards.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.errors import CitebotError, FeedError
from bot.ingest.download import download, normalise_url
from bot.ingest.fetch import fetch_url, save_article, saved_urls, web_address
from bot.settings import Settings
from bot.sqlite_files import DatabaseFile, connected

log = logging.getLogger(__name__)

FILE_NAME = "feeds.sqlite"
FEED_MAX_BYTES = 10 * 1024 * 1024
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
FIRST_BACKOFF = timedelta(minutes=15)
LONGEST_BACKOFF = timedelta(days=1)
ERROR_CHARS = 300
IF_DAMAGED = "Move it away and follow the feeds again with `citebot follow URL`; the articles they brought stay."
# The calendar day an ISO 8601 date names (2024-03-05, 20240305): feedparser turns 2024-13-45 into 2025-01-01.
ISO_DAY = re.compile(r"\s*(\d{4})-?(\d\d)-?(\d\d)")

MIGRATIONS = (
    """
    CREATE TABLE feeds (
        url TEXT PRIMARY KEY,
        title TEXT,
        etag TEXT,
        last_modified TEXT,
        followed_at TEXT NOT NULL,
        last_checked TEXT,
        added INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        retry_after TEXT
    );
    CREATE TABLE entries (
        url TEXT PRIMARY KEY,
        feed_url TEXT NOT NULL,
        document TEXT,
        outcome TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    """,
)


@dataclass(frozen=True)
class Feed:
    """A followed feed as `citebot feeds` lists it."""

    url: str
    title: str | None
    last_checked: str | None
    added: int
    last_error: str | None
    failures: int
    retry_after: str | None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str | None
    date: str | None
    author: str | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    entries: tuple[FeedEntry, ...]


@dataclass(frozen=True)
class SavedArticle:
    """An article a poll saved into the documents folder."""

    title: str
    date: str | None
    path: Path


@dataclass(frozen=True)
class PollResult:
    """What one poll of one feed did. ``error`` is set when the feed could not be read; ``waiting``
    when it was not polled because it is backing off after failures."""

    url: str
    title: str | None
    added: tuple[SavedArticle, ...] = ()
    skipped: int = 0
    not_modified: bool = False
    waiting: bool = False
    error: str | None = None


def feeds_path(settings: Settings) -> Path:
    return settings.index / FILE_NAME


def follow_feed(settings: Settings, url: str, now: datetime | None = None) -> PollResult:
    """Subscribe to the feed at ``url`` and fetch it at once; a FeedError (one line) when it is
    unreachable or not a feed, and then nothing is stored."""
    url = _feed_address(url)
    store = FeedStore(feeds_path(settings))
    try:
        return _poll(store, settings, url, store.feed(url), now or _now(), following=True)
    except CitebotError as error:
        raise FeedError(f"Cannot follow {url}: {error}") from None


def unfollow_feed(settings: Settings, url: str) -> None:
    """Stop following ``url``; the articles it brought stay in the documents folder."""
    url = _feed_address(url)
    path = feeds_path(settings)
    if not path.exists() or not FeedStore(path).remove(url):
        raise FeedError(f"{url} is not followed. `citebot feeds` lists the feeds that are.")


def followed_feeds(settings: Settings) -> tuple[Feed, ...]:
    path = feeds_path(settings)
    return FeedStore(path).feeds() if path.exists() else ()


def update_feeds(settings: Settings, now: datetime | None = None) -> tuple[PollResult, ...]:
    """Poll every followed feed once. A failing feed is logged, recorded and retried later (after a
    growing pause); the other feeds go on."""
    path = feeds_path(settings)
    if not path.exists():
        return ()
    store = FeedStore(path)
    now = now or _now()
    results = []
    for feed in store.feeds():
        if not _due(feed, now):
            results.append(PollResult(feed.url, feed.title, waiting=True, error=feed.last_error))
            continue
        try:
            results.append(_poll(store, settings, feed.url, feed, now, following=False))
        except Exception as error:
            if not isinstance(error, CitebotError):
                log.exception("Polling the feed %s failed unexpectedly", feed.url)
            message = str(error)[:ERROR_CHARS] or type(error).__name__
            log.info("Could not poll the feed %s: %s", feed.url, message)
            store.record_failure(feed, message, now)
            results.append(PollResult(feed.url, feed.title, error=message))
    return tuple(results)


def parse_feed(body: bytes, url: str) -> ParsedFeed:
    """The feed's title and its entries with a web address; a FeedError when it is no feed at all, or
    so broken that no entry can be read from it."""
    import feedparser

    parsed = feedparser.parse(body, response_headers={"content-location": url})
    if not parsed.get("version"):
        raise FeedError(
            f"{url} is not an RSS or Atom feed. Give the feed's own address (it often ends in /feed, /rss or .xml)."
        )
    entries: dict[str, FeedEntry] = {}
    for entry in parsed.entries:
        link = web_address(entry.get("link"))
        if link and link not in entries:
            entries[link] = FeedEntry(link, _clean(entry.get("title")), _entry_date(entry), _clean(entry.get("author")))
    harmless = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    if parsed.get("bozo") and not entries and not isinstance(parsed.get("bozo_exception"), harmless):
        raise FeedError(f"{url} is not a well-formed feed ({parsed.get('bozo_exception')}).")
    return ParsedFeed(_clean(parsed.feed.get("title")), tuple(entries.values()))


def _poll(
    store: FeedStore, settings: Settings, url: str, feed: Feed | None, now: datetime, following: bool
) -> PollResult:
    """Fetch the feed (conditionally), then fetch and save at most ``feed_max_new`` entries not seen before."""
    response = download(
        url,
        max_bytes=FEED_MAX_BYTES,
        allow_private=settings.allow_private_urls,
        accept=FEED_ACCEPT,
        etag=feed.etag if feed else None,
        last_modified=feed.last_modified if feed else None,
    )
    if response.not_modified and feed:
        store.record_success(feed, feed.title, feed.etag, feed.last_modified, 0, now)
        return PollResult(url, feed.title, not_modified=True)
    parsed = parse_feed(response.body, url)
    if following:
        store.add(url, now)
    feed = store.feed(url)
    if feed is None:
        raise FeedError(f"{url} was unfollowed while it was being polled.")
    seen = store.seen(entry.url for entry in parsed.entries)
    new = [entry for entry in parsed.entries if entry.url not in seen]
    added, skipped = _save_entries(store, settings, url, new[: settings.feed_max_new], now)
    # When some new entries had to wait, the next poll must not be answered "not modified".
    complete = len(new) <= settings.feed_max_new
    store.record_success(
        feed,
        parsed.title,
        response.etag if complete else None,
        response.last_modified if complete else None,
        len(added),
        now,
    )
    return PollResult(url, parsed.title, added=tuple(added), skipped=skipped)


def _save_entries(
    store: FeedStore, settings: Settings, feed_url: str, entries: list[FeedEntry], now: datetime
) -> tuple[list[SavedArticle], int]:
    """Fetch and save each entry's page, titled and dated as the feed says; an entry whose page
    cannot be used is logged and remembered, so it is not fetched again."""
    saved = saved_urls(settings.documents)
    added: list[SavedArticle] = []
    skipped = 0
    for entry in entries:
        if entry.url in saved:
            store.remember(entry.url, feed_url, saved[entry.url].name, "already present", now)
            continue
        try:
            page = fetch_url(entry.url, allow_private=settings.allow_private_urls)
            article = replace(
                page,
                title=entry.title or page.title,
                date=entry.date or page.date,
                author=entry.author or page.author,
            )
            result = save_article(article, settings.documents)
        except CitebotError as error:
            log.info("Skipped %s from the feed %s: %s", entry.url, feed_url, error)
            store.remember(entry.url, feed_url, None, f"skipped: {str(error)[:ERROR_CHARS]}", now)
            skipped += 1
            continue
        store.remember(entry.url, feed_url, result.path.name, "saved", now)
        if not result.already_present:
            added.append(SavedArticle(article.title, article.date, result.path))
    return added, skipped


def _feed_address(url: str) -> str:
    try:
        return normalise_url(url)
    except CitebotError as error:
        message = str(error).replace("can be added", "can be followed")
        hint = "For an article file, use `citebot add FILE`."
        raise FeedError(message.replace("For a file, give its path.", hint)) from None


def _due(feed: Feed, now: datetime) -> bool:
    """Whether a feed backing off after failures may be polled again; a pause that cannot be read is over."""
    if not feed.retry_after:
        return True
    try:
        retry_after = datetime.fromisoformat(feed.retry_after)
    except (TypeError, ValueError):
        log.info("The feed %s has an unreadable retry time %r; polling it now", feed.url, feed.retry_after)
        return True
    return (retry_after if retry_after.tzinfo else retry_after.replace(tzinfo=UTC)) <= now


def _entry_date(entry: dict[str, object]) -> str | None:
    """The day an entry was published (or else updated); a date that names no real day is no date."""
    for key in ("published", "updated"):
        moment = entry.get(f"{key}_parsed")
        if isinstance(moment, time.struct_time) and _real_day(str(entry.get(key) or "")):
            return time.strftime("%Y-%m-%d", moment)
    return None


def _real_day(written: str) -> bool:
    """False for an ISO 8601 date such as 2024-13-45, which feedparser rolls over into another real day."""
    day = ISO_DAY.match(written)
    if day is None:
        return True  # feedparser checks the other formats it reads against the calendar itself
    try:
        date(*(int(part) for part in day.groups()))
    except ValueError:
        return False
    return True


def _clean(value: object) -> str | None:
    """Feed text on one line; None when there is none."""
    text = " ".join(str(value or "").split())
    return text or None


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class FeedStore:
    """The subscriptions and every entry seen; a connection per call keeps it safe from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = DatabaseFile(path, "feeds database", IF_DAMAGED)
        path.parent.mkdir(parents=True, exist_ok=True)
        with connected(self.file, MIGRATIONS):
            pass

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one call; a damaged, locked, read-only or full file is a one-line error."""
        with connected(self.file) as connection:
            yield connection

    def add(self, url: str, now: datetime) -> None:
        with self._connect() as connection:
            connection.execute("INSERT OR IGNORE INTO feeds (url, followed_at) VALUES (?, ?)", (url, now.isoformat()))

    def remove(self, url: str) -> bool:
        with self._connect() as connection:
            return connection.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount > 0

    def feed(self, url: str) -> Feed | None:
        found = [feed for feed in self.feeds() if feed.url == url]
        return found[0] if found else None

    def feeds(self) -> tuple[Feed, ...]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT url, title, last_checked, added, last_error, failures, retry_after, etag, last_modified "
                "FROM feeds ORDER BY followed_at, url"
            ).fetchall()
        return tuple(Feed(*row) for row in rows)

    def seen(self, urls: Iterable[str]) -> set[str]:
        """Which of ``urls`` were seen before, in any feed."""
        wanted = list(urls)
        with self._connect() as connection:
            return {
                row[0]
                for start in range(0, len(wanted), 500)
                for row in connection.execute(
                    "SELECT url FROM entries WHERE url IN (SELECT value FROM json_each(?))",
                    (json.dumps(wanted[start : start + 500]),),
                )
            }

    def remember(self, url: str, feed_url: str, document: str | None, outcome: str, now: datetime) -> None:
        with self._connect() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO entries (url, feed_url, document, outcome, seen_at) VALUES (?, ?, ?, ?, ?)",
                (url, feed_url, document, outcome, now.isoformat()),
            )

    def record_success(
        self, feed: Feed, title: str | None, etag: str | None, last_modified: str | None, added: int, now: datetime
    ) -> None:
        with self._connect() as connection:
            connection.execute(
                "UPDATE feeds SET title = COALESCE(?, title), etag = ?, last_modified = ?, last_checked = ?, "
                "added = added + ?, last_error = NULL, failures = 0, retry_after = NULL WHERE url = ?",
                (title, etag, last_modified, now.isoformat(), added, feed.url),
            )

    def record_failure(self, feed: Feed, error: str, now: datetime) -> None:
        """Remember the error and when to try again: 15 minutes after the first failure, doubling up to a day."""
        failures = feed.failures + 1
        pause = min(FIRST_BACKOFF * 2 ** min(failures - 1, 10), LONGEST_BACKOFF)
        with self._connect() as connection:
            connection.execute(
                "UPDATE feeds SET last_checked = ?, last_error = ?, failures = ?, retry_after = ? WHERE url = ?",
                (now.isoformat(), error, failures, (now + pause).isoformat(), feed.url),
            )
