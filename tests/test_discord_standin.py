"""The stand-in itself, proven with a bare discord.py client: if these fail, the bot tests mean nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest
import yarl
from discord.ext import commands

from tests.discord_harness import endpoints_restored, standin_running
from tests.discord_standin import DiscordStandIn, message_problems, pinged


def _point_at(standin: DiscordStandIn) -> None:
    discord.http.Route.BASE = standin.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)


def _bare_bot() -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)

    @bot.tree.command(name="ping", description="Answers pong.")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("pong")

    @bot.listen()
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        await message.reply(f"echo: {message.content}", allowed_mentions=discord.AllowedMentions.none())

    return bot


@contextlib.asynccontextmanager
async def _running(
    standin: DiscordStandIn, bot: commands.Bot, token: str | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    _point_at(standin)
    task = asyncio.create_task(bot.start(token or standin.token))
    try:
        yield task
    finally:
        await bot.close()
        with contextlib.suppress(Exception):
            await task


def _run(body: Callable[[DiscordStandIn], Awaitable[Any]], **options: Any) -> Any:
    """``body`` against a stand-in of its own; discord.py's endpoints are put back afterwards."""

    async def main() -> Any:
        async with standin_running(**options) as standin:
            return await asyncio.wait_for(body(standin), 30)

    with endpoints_restored():
        return asyncio.run(main())


def test_login_ready_guild_create_and_command_sync() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        async with _running(standin, bot):
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            synced = await bot.tree.sync()
            assert [c.name for c in synced] == ["ping"]
            guild = bot.get_guild(int(standin.guild_id))
            assert guild is not None and guild.get_channel(int(standin.channel_id)) is not None
            assert standin.identifies == 1
            identify = next(p for p in standin.gateway_received if p["op"] == 2)
            assert identify["d"]["token"] == standin.token
            assert standin.refused() == []

    _run(body)


def test_gateway_frames_are_zlib_stream_compressed() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        async with _running(standin, bot):
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            assert bot.ws is not None and bot.ws.gateway.host == "127.0.0.1"
            assert any(p["op"] == 1 for p in standin.gateway_received), "the client heartbeats"

    _run(body)


def test_message_reply_and_slash_deferral_round_trip() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        async with _running(standin, bot):
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            await bot.tree.sync()
            asked = await standin.send_message("hello")
            reply = await standin.wait_reply(asked)
            assert reply["content"] == "echo: hello"
            assert reply["allowed_mentions"]["parse"] == []
            record = await standin.slash("ping")
            answer = await standin.wait_answered(record)
            assert record.ack_type == 5 and answer["content"] == "pong"

    _run(body)


def test_resume_replays_events_sent_while_the_socket_was_down() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        async with _running(standin, bot):
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            await standin.drop_gateway()
            asked = await standin.send_message("while you were away")
            reply = await standin.wait_reply(asked, timeout=15)
            assert reply["content"] == "echo: while you were away"
            assert standin.resumes == 1 and standin.identifies == 1

    _run(body)


def test_429_with_retry_after_is_retried() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        async with _running(standin, bot):
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            standin.inject_fault("POST", r"/channels/\d+/messages$", retry_after=0.3)
            asked = await standin.send_message("slow down")
            reply = await standin.wait_reply(asked)
            assert reply["content"] == "echo: slow down"
            statuses = [r.status for r in standin.requests if r.method == "POST" and r.path.endswith("/messages")]
            assert statuses == [429, 200]

    _run(body)


def test_wrong_token_fails_login() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        _point_at(standin)
        with pytest.raises(discord.LoginFailure):
            await bot.start("not-the-token")
        await bot.close()

    _run(body)


def test_gateway_rejecting_the_token_closes_4004_without_reconnecting() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        _point_at(standin)
        with pytest.raises(discord.ConnectionClosed) as raised:
            await bot.start(standin.token)
        assert raised.value.code == 4004
        assert sum(1 for p in standin.gateway_received if p["op"] == 2) == 1

    _run(body, reject_gateway_token=True)


def test_interaction_window_and_double_acknowledgement() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)

        window_passed = asyncio.Event()

        @bot.tree.command(name="late", description="Answers too late, then twice.")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.wait_for(window_passed.wait(), 10)
            with contextlib.suppress(discord.NotFound):
                await interaction.response.send_message("late")

        async with _running(standin, bot):
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            await bot.tree.sync()
            record = await standin.slash("late")
            record.expire()
            window_passed.set()
            await standin.wait_for(lambda: record.errors)
            assert record.errors == [10062]

    _run(body)


def test_limits_are_enforced() -> None:
    assert message_problems({"content": "x" * 2001})
    assert message_problems({"embeds": [{"description": "x" * 4097}]})
    assert message_problems({"embeds": [{"description": "x" * 3000}, {"description": "x" * 3001}]})
    assert message_problems({"embeds": [{"fields": [{"name": "a", "value": "x" * 1025}]}]})
    assert message_problems({"embeds": [{"title": "t"}] * 11})
    assert message_problems({"embeds": [{"url": "not a url"}]})
    assert not message_problems({"content": "x" * 2000, "embeds": [{"description": "x" * 4096}]})
    assert pinged({"content": "@everyone <@&1> <@2>"}) == {"everyone": True, "users": ["2"], "roles": ["1"]}
    assert pinged({"content": "@everyone <@&1>", "allowed_mentions": {"parse": []}})["everyone"] is False


def test_reconnect_and_resumable_invalid_session_are_resumed() -> None:
    async def body(standin: DiscordStandIn) -> None:
        bot = _bare_bot()
        async with _running(standin, bot):
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            await standin.send_op(7)
            asked = await standin.send_message("after reconnect")
            assert (await standin.wait_reply(asked, timeout=15))["content"] == "echo: after reconnect"
            await standin.send_op(9, True)
            asked = await standin.send_message("after invalid session")
            assert (await standin.wait_reply(asked, timeout=15))["content"] == "echo: after invalid session"
            assert standin.resumes == 2 and standin.identifies == 1

    _run(body)
