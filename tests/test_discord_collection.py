"""``/add``, ``/follow``, ``/gaps`` and the background feed poll: the real discord.py client against the
loopback stand-in, an index built with the hashing embedder (fast tier), pages and feeds served from
127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from bot.chat.cogs.collection import CollectionCog
from bot.engine import Engine
from bot.gaps import record_gap
from bot.settings import Settings
from tests.conftest import copy_collection
from tests.discord_harness import World, discord_world
from tests.discord_standin import EPHEMERAL
from tests.fakes import HashingEmbedder
from tests.test_feeds import article_page, published, rss

MANAGE_GUILD = 1 << 5
FEED_ENTRIES: list[int] = [21]


class Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/feed.xml":
            entries = [(f"Story {n}", f"{base}/story/{n}", published(n % 28 + 1)) for n in FEED_ENTRIES]
            body, kind = rss("Loopback News", entries), "application/rss+xml"
        elif self.path.startswith("/story/"):
            body, kind = article_page(int(self.path.rsplit("/", 1)[1])), "text/html; charset=utf-8"
        else:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The address of the pages and the feed, served on 127.0.0.1."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    serving = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def world(fake_settings: Settings, tmp_path: Path) -> Iterator[World]:
    """A bot of this test's own over its own copy of the collection, so no test sees another's additions."""
    settings = copy_collection(fake_settings, tmp_path, allow_private_urls=True)
    engine = Engine.open(settings, HashingEmbedder(), reader=None)
    with discord_world(settings, engine, feed_interval=60) as running:
        yield running


def collection_cog(world: World) -> CollectionCog:
    """The loaded cog (discord.py imports extensions afresh, so it is another class object)."""
    cog = world.bot.get_cog("CollectionCog")
    assert cog is not None
    return cast(CollectionCog, cog)


@contextlib.contextmanager
def private_urls_refused(world: World) -> Iterator[None]:
    original = world.library.settings
    world.library.settings = original.model_copy(update={"allow_private_urls": False})
    try:
        yield
    finally:
        world.library.settings = original


async def eventually(predicate: Callable[[], bool], timeout: float = 20) -> None:
    """Wait (bounded) until ``predicate()`` holds, checking every few milliseconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.02)


def titles(world: World) -> set[str]:
    return {article.title for article in world.library.articles()}


def test_the_commands_are_synced_for_manage_server_only(world: World, site: str) -> None:
    synced = {c["name"]: c for c in world.standin.commands}
    for name in ("add", "follow", "gaps"):
        assert synced[name]["default_member_permissions"] == str(MANAGE_GUILD)
    assert synced["add"]["options"][0]["name"] == "url"

    async def body() -> dict[str, Any]:
        record = await world.standin.slash("add", {"url": f"{site}/story/30"}, user=world.standin.user("x"))
        return await world.standin.wait_answered(record)

    refusal = world.run(body())
    assert "Manage Server" in refusal["content"] and refusal["flags"] & EPHEMERAL
    assert not any(title.startswith("Story 30") for title in titles(world))


def test_add_saves_indexes_and_says_what_was_added(world: World, site: str) -> None:
    async def body(url: str) -> tuple[Any, dict[str, Any]]:
        record = await world.standin.slash("add", {"url": url}, user=world.standin.user("a"), permissions=MANAGE_GUILD)
        return record, await world.standin.wait_answered(record)

    record, reply = world.run(body(f"{site}/story/31"))
    assert record.ack_type == 5 and reply["flags"] & EPHEMERAL
    assert reply["content"] == "Added **Story 31 about the orchard** (undated). Questions now use it."
    assert "Story 31 about the orchard" in titles(world)
    answer = world.library.ask("which orchard plan number 31 was approved by the council")
    assert answer.answered and answer.citations[0].title == "Story 31 about the orchard"

    _, again = world.run(body(f"{site.upper()}/story/31#top"))
    assert again["content"] == "Already in the collection: **Story 31 about the orchard**."


def test_add_says_why_not(world: World, site: str) -> None:
    async def body(url: str) -> str:
        record = await world.standin.slash("add", {"url": url}, user=world.standin.user("b"), permissions=MANAGE_GUILD)
        return str((await world.standin.wait_answered(record))["content"])

    assert "answered 404" in world.run(body(f"{site}/missing"))
    assert "Only http" in world.run(body("/etc/passwd")), "a local path is never read from Discord"
    with private_urls_refused(world):
        refused = world.run(body(f"{site}/story/32"))
    assert refused.startswith("Not added:") and "loopback, private or link-local" in refused
    assert not any(title.startswith("Story 32") for title in titles(world))


def test_follow_adds_the_feed_articles_and_the_poll_picks_up_new_ones(world: World, site: str) -> None:
    async def follow() -> dict[str, Any]:
        user = world.standin.user("f")
        record = await world.standin.slash("follow", {"url": f"{site}/feed.xml"}, user=user, permissions=MANAGE_GUILD)
        return await world.standin.wait_answered(record)

    reply = world.run(follow())
    assert "Following **Loopback News**: 1 new article." in reply["content"]
    assert "Story 21 (2024-03-22)" in reply["content"] and "Story 21" in titles(world)

    FEED_ENTRIES.insert(0, 22)
    assert world.run(collection_cog(world).poll_feeds()) == 1
    assert "Story 22" in titles(world)
    assert world.run(collection_cog(world).poll_feeds()) == 0


def test_the_poll_runs_in_the_background_and_stops_with_the_cog(world: World) -> None:
    poller = collection_cog(world).poller
    assert poller.is_running() and poller.minutes == world.bot.chat.feed_interval

    cog_class = type(collection_cog(world))

    async def remove_and_restore() -> bool:
        bot = world.bot
        await bot.remove_cog("CollectionCog")
        await eventually(lambda: not poller.is_running())
        await bot.add_cog(cog_class(bot))
        return collection_cog(world).poller.is_running()

    assert world.run(remove_and_restore())


def test_gaps_lists_what_was_not_covered(world: World) -> None:
    for question in ("Who won the 2030 World Cup?", "who won the 2030 world cup", "What is the price of tea?"):
        record_gap(world.library.settings.index, question, "general", None, 0.02)

    async def body() -> dict[str, Any]:
        record = await world.standin.slash("gaps", user=world.standin.user("g"), permissions=MANAGE_GUILD)
        return await world.standin.wait_answered(record)

    reply = world.run(body())
    embed = reply["embeds"][0]
    assert reply["flags"] & EPHEMERAL and embed["title"].startswith("Questions the sources did not cover")
    lines = embed["description"].splitlines()
    assert lines[0].startswith("**2×** who won the 2030 world cup (+1 similar)")
    assert any("price of tea" in line for line in lines[1:])
