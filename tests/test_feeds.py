"""Followed feeds against a loopback HTTP server: new entries, 304, malformed and huge feeds, pages
that cannot be used, private addresses, backoff, and the `citebot follow | feeds | update | unfollow` CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

import bot.ingest.feeds as feeds_module
from bot.cli import main
from bot.engine import Engine
from bot.errors import FeedError
from bot.ingest.documents import split_front_matter
from bot.ingest.download import download
from bot.ingest.feeds import (
    Feed,
    PollResult,
    follow_feed,
    followed_feeds,
    parse_feed,
    unfollow_feed,
    update_feeds,
)
from bot.pipeline import build_index
from bot.settings import Settings
from tests.fakes import FAKE_MODEL, HashingEmbedder

TOPICS = ("harbour", "orchard", "railway", "library", "glacier")


def article_page(number: int) -> bytes:
    topic = TOPICS[number % len(TOPICS)]
    sentences = " ".join(
        f"Sentence {i} of story {number} reports that the {topic} committee met on day {i} to discuss the budget."
        for i in range(4)
    )
    return (
        f"<html><head><title>Story {number}</title></head><body><article><h1>Story {number} about the {topic}</h1>"
        f"<p>{sentences}</p><p>The {topic} plan number {number} was approved by the council.</p>"
        "</article></body></html>"
    ).encode()


def rss(title: str, entries: list[tuple[str, str, str]]) -> bytes:
    items = "".join(
        f"<item><title>{name}</title><link>{link}</link><pubDate>{published}</pubDate>"
        f"<author>desk@example.org (News Desk)</author></item>"
        for name, link, published in entries
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example.org/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def published(day: int) -> str:
    return format_datetime(datetime(2024, 3, day, 9, 30, tzinfo=UTC), usegmt=True)


@dataclass
class Site:
    """What the server serves; tests change ``entries`` to publish new stories."""

    base: str = ""
    entries: list[int] = field(default_factory=lambda: [1, 2])
    requests: list[str] = field(default_factory=list)
    failing: bool = False

    def feed(self) -> bytes:
        return rss("Example News", [(f"Story {n}", f"{self.base}/story/{n}", published(n)) for n in self.entries])


SITE = Site()
BIG_FEED_ENTRIES = 400  # enough to dwarf a bound of 3; feedparser takes about 1.5 ms an entry
STOP = threading.Event()


def big_feed() -> bytes:
    entries = [(f"Big {n}", f"/big/{n}", published(1 + n % 28)) for n in range(BIG_FEED_ENTRIES)]
    return rss("Big feed", entries)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SITE.requests.append(self.path)
        if self.path == "/feed.xml":
            body = SITE.feed()
            etag = f'"{hash(body) & 0xFFFFFF:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.reply(200, "application/rss+xml", body, etag)
        elif self.path.startswith(("/story/", "/big/")):
            self.reply(200, "text/html; charset=utf-8", article_page(int(self.path.rsplit("/", 1)[1])))
        elif self.path == "/big.xml":
            self.reply(200, "application/rss+xml", BIG_FEED)
        elif self.path == "/huge-entry.xml":
            self.reply(200, "application/rss+xml", rss("Huge", [("Huge page", "/huge-page", published(3))]))
        elif self.path == "/huge-page":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(500 * 1024 * 1024))
            self.end_headers()
            self.wfile.write(b"<html><body>" + b"x" * 1000)
        elif self.path == "/flaky.xml" and not SITE.failing:
            self.reply(200, "application/rss+xml", rss("Flaky", [("Story 10", f"{SITE.base}/story/10", published(9))]))
        elif self.path == "/slow.xml":
            self.trickle()
        elif self.path == "/malformed.xml":
            self.reply(200, "application/rss+xml", b'<?xml version="1.0"?><rss version="2.0"><channel><title>Bro')
        elif self.path == "/page.html":
            self.reply(200, "text/html", article_page(7))
        else:
            self.send_error(404, "Not Found")

    def trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        for byte in SITE.feed():
            if STOP.wait(0.01):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return

    def reply(self, status: int, content_type: str, body: bytes, etag: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


BIG_FEED = big_feed()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    SITE.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    STOP.clear()
    yield SITE.base
    STOP.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def site(server: str) -> Iterator[Site]:
    SITE.entries, SITE.requests, SITE.failing = [1, 2], [], False
    yield SITE


def settings_in(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"allow_private_urls": True, "model": FAKE_MODEL} | overrides
    return Settings(documents=tmp_path / "documents", index=tmp_path / "index", _env_file=None, **values)  # type: ignore[call-arg]


def test_following_saves_each_entry_with_the_feed_metadata(site: Site, tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    result = follow_feed(settings, f"{site.base}/feed.xml")
    assert result.title == "Example News" and [a.title for a in result.added] == ["Story 1", "Story 2"]
    metadata, text = split_front_matter(result.added[0].path.read_text(encoding="utf-8"))
    assert metadata.title == "Story 1" and metadata.url == f"{site.base}/story/1"
    assert metadata.date == "2024-03-01" and metadata.author == "desk@example.org (News Desk)"
    assert "harbour plan number 1 was approved" not in text and "orchard plan number 1 was approved" in text
    (feed,) = followed_feeds(settings)
    assert feed.title == "Example News" and feed.added == 2 and feed.last_error is None and feed.last_checked

    report = build_index(settings, embedder=HashingEmbedder())
    assert report.added == 2
    answer = Engine.open(settings, HashingEmbedder(), reader=None).ask("which orchard plan was approved by the council")
    assert answer.answered and answer.citations[0].date == "2024-03-01"


def test_an_unchanged_feed_answers_304_and_a_second_update_adds_nothing(site: Site, tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    follow_feed(settings, f"{site.base}/feed.xml")
    site.requests.clear()
    (unchanged,) = update_feeds(settings)
    assert unchanged.not_modified and not unchanged.added and site.requests == ["/feed.xml"]

    site.entries = [3, 1, 2]
    (fresh,) = update_feeds(settings)
    assert [a.title for a in fresh.added] == ["Story 3"]
    site.requests.clear()
    (again,) = update_feeds(settings)
    assert again.not_modified and not again.added and site.requests == ["/feed.xml"]
    assert len(list(settings.documents.iterdir())) == 3
    assert followed_feeds(settings)[0].added == 3


def test_an_entry_already_saved_by_hand_is_not_saved_again(site: Site, tmp_path: Path) -> None:
    from bot.ingest.fetch import add_source

    settings = settings_in(tmp_path)
    add_source(f"{site.base.upper()}/story/2#top", settings.documents, allow_private=True)
    result = follow_feed(settings, f"{site.base}/feed.xml")
    assert [a.title for a in result.added] == ["Story 1"]
    assert len(list(settings.documents.iterdir())) == 2


def test_a_feed_of_hundreds_of_entries_is_bounded(site: Site, tmp_path: Path) -> None:
    settings = settings_in(tmp_path, feed_max_new=3)
    first = follow_feed(settings, f"{site.base}/big.xml")
    assert len(first.added) == 3
    assert sum(path.startswith("/big/") for path in site.requests) == 3
    second = update_feeds(settings)[0]
    assert len(second.added) == 3 and not second.not_modified, "the rest is fetched, a few at a time"
    assert len(list(settings.documents.iterdir())) == 6


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/malformed.xml", "not a well-formed feed"),
        ("/page.html", "not an RSS or Atom feed"),
        ("/missing.xml", "answered 404"),
        ("ftp://example.org/feed", "Only http"),
        ("http://[::1", "not a valid web address"),
    ],
)
def test_follow_refuses_what_is_not_a_usable_feed(site: Site, tmp_path: Path, path: str, message: str) -> None:
    settings = settings_in(tmp_path)
    url = path if "://" in path else f"{site.base}{path}"
    with pytest.raises(FeedError, match=message):
        follow_feed(settings, url)
    assert followed_feeds(settings) == ()


def test_a_slow_or_huge_feed_is_refused(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds_module, "FEED_MAX_BYTES", 1000)
    with pytest.raises(FeedError, match="larger than"):
        follow_feed(settings_in(tmp_path), f"{site.base}/big.xml")
    monkeypatch.setattr("bot.ingest.download.TIMEOUT_SECONDS", 0.3)
    with pytest.raises(FeedError, match="took longer than"):
        follow_feed(settings_in(tmp_path), f"{site.base}/slow.xml")


def test_an_entry_pointing_at_a_huge_page_is_skipped(site: Site, tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    result = follow_feed(settings, f"{site.base}/huge-entry.xml")
    assert result.added == () and result.skipped == 1
    assert update_feeds(settings)[0].skipped == 0, "a page that could not be used is not fetched again"


def test_an_entry_at_a_private_address_is_refused(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The feed itself is served from loopback (allowed for it alone); its entries point there too."""

    def loopback_feed(url: str, **options: object) -> object:
        return download(url, **(options | {"allow_private": True}))  # type: ignore[arg-type]

    monkeypatch.setattr(feeds_module, "download", loopback_feed)
    settings = settings_in(tmp_path, allow_private_urls=False)
    with caplog.at_level("INFO"):  # what -v shows: the summary counts the skipped entries
        result = follow_feed(settings, f"{site.base}/feed.xml")
    assert result.added == () and result.skipped == 2
    assert not settings.documents.exists() or not any(settings.documents.iterdir())
    assert "loopback, private or link-local" in caplog.text
    assert not any(path.startswith("/story/") for path in site.requests)


def test_a_failing_feed_backs_off_and_the_others_go_on(site: Site, tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    follow_feed(settings, f"{site.base}/flaky.xml")
    follow_feed(settings, f"{site.base}/feed.xml")
    site.failing, site.entries = True, [4, 1, 2]
    now = datetime.now(UTC)

    def poll(moment: datetime) -> dict[str, PollResult]:
        return {result.url.rsplit("/", 1)[1]: result for result in update_feeds(settings, now=moment)}

    def flaky() -> Feed:
        return next(feed for feed in followed_feeds(settings) if feed.url.endswith("/flaky.xml"))

    polled = poll(now)
    assert "404" in (polled["flaky.xml"].error or "") and [a.title for a in polled["feed.xml"].added] == ["Story 4"]
    assert flaky().failures == 1 and "404" in (flaky().last_error or "") and flaky().title == "Flaky"

    site.requests.clear()
    assert poll(now + timedelta(minutes=5))["flaky.xml"].waiting and "/flaky.xml" not in site.requests
    poll(now + timedelta(minutes=20))
    assert "/flaky.xml" in site.requests and flaky().failures == 2
    site.failing = False
    assert poll(now + timedelta(hours=2))["flaky.xml"].error is None and flaky().failures == 0


def test_unfollow(site: Site, tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    follow_feed(settings, f"{site.base}/feed.xml")
    unfollow_feed(settings, f"{site.base.upper()}/feed.xml#x")
    assert followed_feeds(settings) == () and len(list(settings.documents.iterdir())) == 2
    with pytest.raises(FeedError, match="is not followed"):
        unfollow_feed(settings, f"{site.base}/feed.xml")


def test_relative_entry_links_and_entries_without_links() -> None:
    parsed = parse_feed(
        rss("T", [("A", "/a", published(1)), ("No link", "", published(2)), ("A again", "/a#x", published(3))]),
        "http://example.org/feed.xml",
    )
    assert [(e.url, e.title) for e in parsed.entries] == [("http://example.org/a", "A")]


@pytest.fixture()
def fake_models(hashing_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI builds with the hashing embedder, and may reach the loopback server."""
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    monkeypatch.setenv("CITEBOT_ALLOW_PRIVATE_URLS", "1")


def test_the_feed_commands(site: Site, tmp_path: Path, fake_models: None) -> None:
    folders = ["--documents", str(tmp_path / "documents"), "--index", str(tmp_path / "index")]
    runner = CliRunner()
    followed = runner.invoke(main, ["follow", f"{site.base}/feed.xml", *folders])
    assert followed.exit_code == 0, followed.output
    assert "Following Example News" in followed.output and "+ Story 1 (2024-03-01)" in followed.output
    assert "2 added" in followed.output
    listed = runner.invoke(main, ["feeds", *folders])
    assert "Example News" in listed.output and "2 articles added" in listed.output
    unchanged = runner.invoke(main, ["update", *folders])
    assert unchanged.exit_code == 0 and "Example News: unchanged" in unchanged.output
    assert "Indexed" not in unchanged.output
    refused = runner.invoke(main, ["follow", f"{site.base}/page.html", *folders])
    assert refused.exit_code == 1 and "not an RSS or Atom feed" in refused.output
    assert "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1
    gone = runner.invoke(main, ["unfollow", f"{site.base}/feed.xml", *folders])
    assert gone.exit_code == 0 and "No longer following" in gone.output
    assert "No feeds followed" in runner.invoke(main, ["update", *folders]).output
