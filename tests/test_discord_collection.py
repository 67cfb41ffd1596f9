"""``/add``, ``/follow``, ``/gaps`` and the background feed poll: the real discord.py client against the
loopback stand-in, an index built with the hashing embedder (fast tier), pages and feeds served from
127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from pydantic import SecretStr

from bot.chat.bot import CitebotBot, configure_endpoints
from bot.chat.cogs.collection import CollectionCog
from bot.engine import Engine
from bot.gaps import record_gap
from bot.pipeline import build_index
from bot.settings import ChatSettings, Settings
from tests.discord_standin import EPHEMERAL, DiscordStandIn
from tests.fakes import FAKE_MODEL, HashingEmbedder
from tests.test_feeds import article_page, published, rss

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
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


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    standin: DiscordStandIn
    bot: CitebotBot
    engine: Engine
    pages: str

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def cog(self) -> CollectionCog:
        """The loaded cog (discord.py imports extensions afresh, so it is another class object)."""
        cog = self.bot.get_cog("CollectionCog")
        assert cog is not None
        return cast(CollectionCog, cog)


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped articles indexed once with the hashing embedder; each test copies them."""
    root = tmp_path_factory.mktemp("collection")
    shutil.copytree(REPO / "documents", root / "documents")
    settings = Settings(documents=root / "documents", index=root / "index", model=FAKE_MODEL, _env_file=None)  # type: ignore[call-arg]
    build_index(settings, embedder=HashingEmbedder())
    return root


@pytest.fixture
def world(collection: Path, tmp_path: Path) -> Iterator[World]:
    """A bot of this test's own over its own copy of the collection, so no test sees another's additions."""
    root = tmp_path / "collection"
    shutil.copytree(collection, root, symlinks=True)
    settings = Settings(
        documents=root / "documents", index=root / "index", model=FAKE_MODEL, allow_private_urls=True, _env_file=None
    )  # type: ignore[call-arg]
    engine = Engine.open(settings, HashingEmbedder(), reader=None)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    serving = threading.Thread(target=httpd.serve_forever, daemon=True)
    serving.start()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="collection-tests", daemon=True)
    thread.start()

    async def start() -> tuple[World, asyncio.Task[None]]:
        standin = DiscordStandIn()
        await standin.start()
        chat = ChatSettings(
            discord_api=standin.api_url,
            discord_gateway=standin.gateway_url,
            discord_token=SecretStr(standin.token),
            feed_interval=60,
            _env_file=None,  # type: ignore[call-arg]
        )
        configure_endpoints(chat)
        bot = CitebotBot(settings, chat, engine, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(standin.token))
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        return World(loop, standin, bot, engine, f"http://127.0.0.1:{httpd.server_address[1]}"), task

    created, task = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    yield created

    async def stop() -> None:
        await created.bot.close()
        with contextlib.suppress(Exception):
            await task
        await created.standin.stop()

    created.run(stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
    httpd.shutdown()
    httpd.server_close()


@contextlib.contextmanager
def private_urls_refused(world: World) -> Iterator[None]:
    original = world.bot.settings
    world.bot.settings = original.model_copy(update={"allow_private_urls": False})
    try:
        yield
    finally:
        world.bot.settings = original


async def eventually(predicate: Callable[[], bool], timeout: float = 20) -> None:
    """Wait (bounded) until ``predicate()`` holds, checking every few milliseconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.02)


def titles(world: World) -> set[str]:
    return {article.title for article in world.engine.articles()}


def test_the_commands_are_synced_for_manage_server_only(world: World) -> None:
    synced = {c["name"]: c for c in world.standin.commands}
    for name in ("add", "follow", "gaps"):
        assert synced[name]["default_member_permissions"] == str(MANAGE_GUILD)
    assert synced["add"]["options"][0]["name"] == "url"

    async def body() -> dict[str, Any]:
        record = await world.standin.slash("add", {"url": f"{world.pages}/story/30"}, user=world.standin.user("x"))
        return await world.standin.wait_answered(record)

    refusal = world.run(body())
    assert "Manage Server" in refusal["content"] and refusal["flags"] & EPHEMERAL
    assert not any(title.startswith("Story 30") for title in titles(world))


def test_add_saves_indexes_and_says_what_was_added(world: World) -> None:
    async def body(url: str) -> tuple[Any, dict[str, Any]]:
        record = await world.standin.slash("add", {"url": url}, user=world.standin.user("a"), permissions=MANAGE_GUILD)
        return record, await world.standin.wait_answered(record)

    record, reply = world.run(body(f"{world.pages}/story/31"))
    assert record.ack_type == 5 and reply["flags"] & EPHEMERAL
    assert reply["content"] == "Added **Story 31 about the orchard** (undated). Questions now use it."
    assert "Story 31 about the orchard" in titles(world)
    answer = world.engine.ask("which orchard plan number 31 was approved by the council")
    assert answer.answered and answer.citations[0].title == "Story 31 about the orchard"

    _, again = world.run(body(f"{world.pages.upper()}/story/31#top"))
    assert again["content"] == "Already in the collection: **Story 31 about the orchard**."


def test_add_says_why_not(world: World) -> None:
    async def body(url: str) -> str:
        record = await world.standin.slash("add", {"url": url}, user=world.standin.user("b"), permissions=MANAGE_GUILD)
        return str((await world.standin.wait_answered(record))["content"])

    assert "answered 404" in world.run(body(f"{world.pages}/missing"))
    assert "Only http" in world.run(body("/etc/passwd")), "a local path is never read from Discord"
    with private_urls_refused(world):
        refused = world.run(body(f"{world.pages}/story/32"))
    assert refused.startswith("Not added:") and "loopback, private or link-local" in refused
    assert not any(title.startswith("Story 32") for title in titles(world))


def test_follow_adds_the_feed_articles_and_the_poll_picks_up_new_ones(world: World) -> None:
    async def follow() -> dict[str, Any]:
        user = world.standin.user("f")
        record = await world.standin.slash(
            "follow", {"url": f"{world.pages}/feed.xml"}, user=user, permissions=MANAGE_GUILD
        )
        return await world.standin.wait_answered(record)

    reply = world.run(follow())
    assert "Following **Loopback News**: 1 new article." in reply["content"]
    assert "Story 21 (2024-03-22)" in reply["content"] and "Story 21" in titles(world)

    FEED_ENTRIES.insert(0, 22)
    assert world.run(world.cog.poll_feeds()) == 1
    assert "Story 22" in titles(world)
    assert world.run(world.cog.poll_feeds()) == 0


def test_the_poll_runs_in_the_background_and_stops_with_the_cog(world: World) -> None:
    poller = world.cog.poller
    assert poller.is_running() and poller.minutes == world.bot.chat.feed_interval

    cog_class = type(world.cog)

    async def remove_and_restore() -> bool:
        await world.bot.remove_cog("CollectionCog")
        await eventually(lambda: not poller.is_running())
        await world.bot.add_cog(cog_class(world.bot))
        return world.cog.poller.is_running()

    assert world.run(remove_and_restore())


def test_gaps_lists_what_was_not_covered(world: World) -> None:
    for question in ("Who won the 2030 World Cup?", "who won the 2030 world cup", "What is the price of tea?"):
        record_gap(world.bot.settings.index, question, "general", None, 0.02)

    async def body() -> dict[str, Any]:
        record = await world.standin.slash("gaps", user=world.standin.user("g"), permissions=MANAGE_GUILD)
        return await world.standin.wait_answered(record)

    reply = world.run(body())
    embed = reply["embeds"][0]
    assert reply["flags"] & EPHEMERAL and embed["title"].startswith("Questions the sources did not cover")
    lines = embed["description"].splitlines()
    assert lines[0].startswith("**2×** who won the 2030 world cup (+1 similar)")
    assert any("price of tea" in line for line in lines[1:])
