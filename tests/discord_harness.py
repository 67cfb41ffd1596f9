"""The real bot and the loopback stand-in of Discord, running together for a test: the one harness of
every Discord test.

``standin_running()`` serves the stand-in on 127.0.0.1. ``running_bot(settings, engine, standin)`` logs
the real bot, holding a ``Library`` over ``engine``, in to it, pointing discord.py at it and back again
afterwards. ``discord_world(settings, engine)`` runs both on an event loop in a thread of their own, for
tests that drive them step by step with ``world.run(coroutine)``. Everything stops when its block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import discord
from pydantic import SecretStr

from bot.chat.bot import CitebotBot, configure_endpoints
from bot.library import Library
from bot.settings import ChatSettings, Settings
from tests.discord_standin import DiscordStandIn

T = TypeVar("T")
READY_SECONDS = 30


def chat_settings(standin: DiscordStandIn, **chat: Any) -> ChatSettings:
    """The bot's settings for talking to ``standin``, with ``chat`` on top."""
    return ChatSettings(
        discord_api=standin.api_url,
        discord_gateway=standin.gateway_url,
        discord_token=SecretStr(standin.token),
        _env_file=None,  # type: ignore[call-arg]
        **chat,
    )


@contextlib.contextmanager
def endpoints_restored() -> Iterator[None]:
    """discord.py's endpoints as they were before the block, whatever it pointed them at."""
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@contextlib.asynccontextmanager
async def standin_running(**options: Any) -> AsyncIterator[DiscordStandIn]:
    standin = DiscordStandIn(**options)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, engine: Any, standin: DiscordStandIn, **chat: Any
) -> AsyncIterator[CitebotBot]:
    """The bot over ``engine``, logged in to the stand-in and ready; closed on the way out."""
    with endpoints_restored():
        settings_for_chat = chat_settings(standin, **chat)
        configure_endpoints(settings_for_chat)
        bot = CitebotBot(Library(settings, engine), settings_for_chat, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(standin.token))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), READY_SECONDS)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)


@dataclass
class World:
    """A running bot and stand-in, driven from the test's own thread."""

    loop: asyncio.AbstractEventLoop
    standin: DiscordStandIn
    bot: CitebotBot

    @property
    def library(self) -> Library:
        return self.bot.library

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def user(self, name: str) -> dict[str, Any]:
        """A member of the guild of this name, new to the bot (so no cooldown links two steps)."""
        return self.standin.user(name)


@contextlib.contextmanager
def discord_world(settings: Settings, engine: Any, **chat: Any) -> Iterator[World]:
    """The bot over ``engine`` and the stand-in, on an event loop in a thread of their own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="discord-world", daemon=True)
    thread.start()
    running = contextlib.AsyncExitStack()

    async def start() -> World:
        standin = await running.enter_async_context(standin_running())
        bot = await running.enter_async_context(running_bot(settings, engine, standin, **chat))
        return World(loop, standin, bot)

    async def stop() -> None:
        """Close the bot and the stand-in, then end what they left behind (a view's timeout, say)."""
        await running.aclose()
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(READY_SECONDS + 10)
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
