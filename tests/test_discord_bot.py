"""The real bot and the real discord.py client against the loopback stand-in of Discord.

Every test but two runs on the fast tier's engine (the hashing embedder, the first cut deciding): what
the bot does with Discord does not depend on the model's judgement. The two marked slow ask the real
model, through Discord, for an answer and for an abstention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from pydantic import SecretStr

from bot.chat.bot import DiscordTokenError, RedactToken, run_discord, serve
from bot.chat.cogs.ask import ALREADY_WAITING, strip_mentions
from bot.chat.cogs.library import source_pages
from bot.chat.cooldown import Cooldown
from bot.engine import Engine
from bot.feedback import feedback_summary
from bot.library import Library
from bot.models import Answer, IndexedArticle, IndexInfo
from bot.pipeline import build_index
from bot.settings import ChatSettings, Settings
from tests.conftest import ROOT, copy_collection, make_settings
from tests.discord_harness import World, chat_settings, discord_world, endpoints_restored, standin_running
from tests.discord_standin import EPHEMERAL, DiscordStandIn, message_problems
from tests.fakes import FAKE_MODEL, HashingEmbedder
from tests.test_render_discord import bold_segments

WAGNER = "who denied the Wagner claims?"
UNANSWERABLE = "How do I bake sourdough bread?"
DENIALS = ("denied", "rejected", "dismissed")
MANAGE_GUILD = 1 << 5
COOLDOWN = 0.2

MENTIONS_ARTICLE = """---
title: Bridge closure announced
url: https://example.org/news/bridge-closure
date: 2024-03-02
---
The council met on Monday evening.

Mayor Ilse Brandvold told @everyone at the <@&123456789012345678> meeting that the Harbour Bridge \
would close for repairs on Friday. Residents asked @here about detours.
"""

LONG_SENTENCE = (
    "The orchard cooperative reported that its cider apple harvest had doubled after the new irrigation canal opened."
)
LIGHTHOUSE = """---
title: Lighthouse keeper retires
---
The last lighthouse keeper of Vardø retired after forty years.
"""


def long_article() -> str:
    filler = [f"Paragraph filler sentence number {i} talks about weather and tides." for i in range(80)]
    paragraph = " ".join([*filler[:40], LONG_SENTENCE, *filler[40:]])
    assert len(paragraph) > 5000 and "\n" not in paragraph
    return f"---\ntitle: One very long paragraph\nurl: https://example.org/long\n---\n{paragraph}\n"


class RecordingEngine:
    """An engine with a log of what it was asked: how the tests see what the bot made of a message."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.calls: list[tuple[str, str | None]] = []

    def ask(self, question: str, context: str | None = None) -> Answer:
        self.calls.append((question, context))
        return self.engine.ask(question, context=context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


@pytest.fixture(scope="module")
def discord_index(fake_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The fast tier's index and two more articles, one full of mentions and one very long."""
    settings = copy_collection(fake_settings, tmp_path_factory.mktemp("discord"))
    (settings.documents / "bridge.md").write_text(MENTIONS_ARTICLE, encoding="utf-8")
    (settings.documents / "long.md").write_text(long_article(), encoding="utf-8")
    build_index(settings, embedder=HashingEmbedder())
    return settings


@pytest.fixture(scope="module")
def discord_engine(discord_index: Settings) -> Engine:
    return Engine.open(discord_index, HashingEmbedder(), reader=None)


@pytest.fixture
def world(discord_index: Settings, discord_engine: Engine, tmp_path: Path) -> Iterator[World]:
    """A bot and a stand-in of this test's own; the bot's files (votes, gaps) in this test's folder."""
    settings = make_settings(discord_index.documents, tmp_path / "index", model=FAKE_MODEL)
    engine = RecordingEngine(discord_engine)
    with discord_world(settings, engine, ask_channels="ask-citebot", cooldown=COOLDOWN) as running:
        yield running


def asked(world: World) -> list[tuple[str, str | None]]:
    """Each question the bot put to the engine, with its context."""
    engine: Any = world.library.engine
    return engine.calls


@contextlib.contextmanager
def overridden(world: World, **changes: Any) -> Iterator[None]:
    """The cogs read settings per message, so a test can switch a behaviour on for its duration."""
    original = world.bot.chat
    world.bot.chat = original.model_copy(update=changes)
    try:
        yield
    finally:
        world.bot.chat = original


def description(message: dict[str, Any]) -> str:
    return str(message["embeds"][0]["description"]) if message.get("embeds") else ""


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


def assert_all_payloads_valid(standin: DiscordStandIn) -> None:
    assert standin.refused() == [], [(r.method, r.path, r.response) for r in standin.refused()]
    for recorded in standin.requests:
        if isinstance(recorded.json, dict):
            body = recorded.json.get("data", recorded.json) if "/callback" in recorded.path else recorded.json
            assert message_problems(body) == [], recorded.path
            if body.get("content") or body.get("embeds"):
                assert body.get("allowed_mentions", {}).get("parse") == [], recorded.path


def closed_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return int(closed.getsockname()[1])


# ---- login --------------------------------------------------------------------------------------


def test_login_syncs_the_commands_and_the_bot_sees_the_guild(world: World) -> None:
    commands = {c["name"]: c for c in world.standin.commands}
    assert set(commands) >= {"ask", "reindex", "sources"}
    assert commands["ask"]["options"][0]["name"] == "question" and commands["ask"]["options"][0]["required"] is True
    assert commands["reindex"]["default_member_permissions"] == str(MANAGE_GUILD)
    assert commands["sources"].get("default_member_permissions") is None, "everyone may list the sources"
    guild = world.bot.get_guild(int(world.standin.guild_id))
    assert guild is not None and guild.get_channel(int(world.standin.ask_channel_id)) is not None


def test_serve_points_discord_py_at_the_configured_discord(fake_engine: Engine, tmp_path: Path) -> None:
    library = Library(make_settings(tmp_path / "documents", tmp_path / "index", model=FAKE_MODEL), fake_engine)

    async def body() -> int:
        async with standin_running() as standin:
            with endpoints_restored():
                nowhere = closed_port()  # only serve() itself can point discord.py at the stand-in
                discord.http.Route.BASE = f"http://127.0.0.1:{nowhere}/api/v10"
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{nowhere}/gateway")
                serving = asyncio.create_task(serve(library, chat_settings(standin), standin.token))
                try:
                    await standin.wait_for(lambda: standin.identifies, timeout=20)
                finally:
                    serving.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await serving
            return standin.identifies

    assert asyncio.run(body()) == 1


# ---- asking -------------------------------------------------------------------------------------


def test_a_mention_is_answered_with_a_cited_embed_and_vote_buttons(world: World) -> None:
    async def body() -> dict[str, Any]:
        message = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("m1"))
        return await world.standin.wait_reply(message)

    reply = world.run(body())
    assert reply["embeds"][0]["title"] == WAGNER
    assert description(reply).startswith("**1.** Israel has joined the US propaganda campaign"), "unlinked: no URL"
    assert bold_segments(description(reply))[1::2], "the answering sentence is bold"
    assert "articles indexed" in reply["embeds"][0]["footer"]["text"]
    assert reply["allowed_mentions"]["parse"] == []
    ids = custom_ids(reply)
    assert ids[0].startswith("citebot:vote:up:") and ids[1].startswith("citebot:vote:down:")
    assert asked(world)[-1] == (WAGNER, None), "the mention is stripped from the question"


def test_slash_ask_is_deferred_then_answered_by_a_follow_up(world: World) -> None:
    async def body() -> Any:
        record = await world.standin.slash("ask", {"question": WAGNER}, user=world.user("s1"))
        return record, await world.standin.wait_answered(record)

    record, answer = world.run(body())
    assert record.ack_type == 5 and record.errors == [], "deferred inside the stand-in's 3 s window"
    assert answer["embeds"] and answer["embeds"][0]["title"] == WAGNER
    followups = [
        r for r in world.standin.requests if r.path.startswith(f"/api/v10/webhooks/{world.standin.application_id}/")
    ]
    assert followups and followups[-1].query.get("wait") in ("1", "true")


def test_a_question_the_sources_do_not_cover_gets_the_abstention_and_becomes_a_gap(world: World) -> None:
    async def body() -> dict[str, Any]:
        message = await world.standin.send_message(UNANSWERABLE, mention_bot=True, author=world.user("o1"))
        return await world.standin.wait_reply(message)

    reply = world.run(body())
    assert reply["embeds"] == [] and reply["components"] == []
    assert "don't cover" in reply["content"]
    [gap] = world.library.gaps()
    assert gap.question == UNANSWERABLE and gap.askers == 1


def test_an_empty_mention_gets_a_hint(world: World) -> None:
    async def body() -> dict[str, Any]:
        message = await world.standin.send_message("", mention_bot=True, author=world.user("e1"))
        return await world.standin.wait_reply(message)

    reply = world.run(body())
    assert "/ask" in reply["content"] and "question" in reply["content"]
    assert asked(world) == []


def test_ask_channel_needs_no_mention_and_bots_are_ignored(world: World) -> None:
    other_bot = world.standin.user("otherbot")
    other_bot["bot"] = True

    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        ignored = await world.standin.send_message(WAGNER, channel_id=world.standin.ask_channel_id, author=other_bot)
        message = await world.standin.send_message(
            "who denied the allegations?", channel_id=world.standin.ask_channel_id, author=world.user("c1")
        )
        return ignored, await world.standin.wait_reply(message)

    ignored, reply = world.run(body())
    assert reply["embeds"]
    assert world.standin.replies_to(ignored["id"]) == []
    answers_in_channel = world.standin.bot_messages_in(world.standin.ask_channel_id)
    assert len(answers_in_channel) == 1, "the bot does not answer its own answer in the ask channel"


def test_a_slash_question_inside_the_cooldown_waits_its_turn_and_a_third_is_refused(world: World) -> None:
    user = world.user("k1")

    async def body() -> Any:
        records = [await world.standin.slash("ask", {"question": WAGNER}, user=user) for _ in range(3)]
        return records, [await world.standin.wait_answered(record) for record in records]

    (_, second, third), (_, waited, refused) = world.run(body())
    assert second.ack_type == 5 and waited["embeds"]
    assert third.ack_type == 4 and third.ack_flags & EPHEMERAL and refused["content"] == ALREADY_WAITING


# ---- buttons and feedback -----------------------------------------------------------------------


def test_thumbs_up_writes_a_feedback_row_and_more_sources_is_ephemeral(world: World) -> None:
    async def body() -> Any:
        message = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("b1"))
        reply = await world.standin.wait_reply(message)
        ids = custom_ids(reply)
        voter = world.user("voter")
        vote = await world.standin.click(reply, ids[0], user=voter)
        thanks = await world.standin.wait_answered(vote)
        more = await world.standin.click(reply, next(i for i in ids if i.startswith("citebot:more:")), user=voter)
        return reply, vote, thanks, more, await world.standin.wait_answered(more)

    reply, vote, thanks, more, shown = world.run(body())
    assert vote.ack_flags & EPHEMERAL and "Thanks" in thanks["content"]
    votes = world.bot.feedback.votes()
    assert votes and votes[-1].question == WAGNER and votes[-1].vote == 1
    assert len(votes[-1].user_hash) == 64 and "sentence" in votes[-1].citations
    assert more.ack_type == 5 and more.ack_flags & EPHEMERAL
    assert shown["flags"] & EPHEMERAL and shown["embeds"] and numbered_after(description(reply), description(shown))
    assert "👍" in feedback_summary(world.library.settings)


def test_more_sources_still_works_after_a_restart_forgot_the_answer(world: World) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        message = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("r1"))
        reply = await world.standin.wait_reply(message)
        world.bot._recent.clear()  # what a restart does to the in-memory cache
        more_id = next(i for i in custom_ids(reply) if "more" in i)
        return reply, await world.standin.wait_answered(await world.standin.click(reply, more_id))

    reply, shown = world.run(body())
    assert shown["embeds"] and numbered_after(description(reply), description(shown))
    assert asked(world)[-1] == (WAGNER, None), "asked again from the stored question"


def numbered_after(first: str, more: str) -> bool:
    """More sources go on numbering where the answer stopped (one number per article)."""
    answer_numbers = [int(n) for n in re.findall(r"\*\*(\d+)\.\*\*", first)]
    more_numbers = [int(n) for n in re.findall(r"\*\*(\d+)\.\*\*", more)]
    return bool(answer_numbers and more_numbers) and min(more_numbers) == max(answer_numbers) + 1


# ---- safety and limits ----------------------------------------------------------------------------


def test_mentions_in_an_article_ping_nobody(world: World) -> None:
    async def body() -> dict[str, Any]:
        message = await world.standin.send_message(
            "when will the Harbour Bridge close for repairs?", mention_bot=True, author=world.user("p1")
        )
        return await world.standin.wait_reply(message)

    reply = world.run(body())
    text = description(reply)
    assert "Harbour Bridge" in text
    assert "[Bridge closure announced](https://example.org/news/bridge-closure#:~:text=" in text
    assert "· 2024-03-02" in text
    assert "@everyone" not in text and "<@&123456789012345678>" not in text
    assert "@\u200beveryone" in text
    assert reply["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert reply["pinged"] == {"everyone": False, "users": [], "roles": []}


def test_a_5000_character_paragraph_keeps_every_payload_within_limits(world: World) -> None:
    async def body() -> dict[str, Any]:
        message = await world.standin.send_message(
            "what happened to the cider apple harvest after the irrigation canal opened?",
            mention_bot=True,
            author=world.user("l1"),
        )
        return await world.standin.wait_reply(message)

    reply = world.run(body())
    assert "cider apple harvest" in description(reply)
    assert_all_payloads_valid(world.standin)


# ---- faults and load ------------------------------------------------------------------------------


def test_the_bot_resumes_after_a_dropped_socket_and_answers_what_was_sent_meanwhile(world: World) -> None:
    async def body() -> dict[str, Any]:
        resumes = world.standin.resumes
        await world.standin.drop_gateway()
        message = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("d1"))
        reply = await world.standin.wait_reply(message, timeout=30)
        assert world.standin.resumes == resumes + 1
        return reply

    assert world.run(body())["embeds"]


def test_a_429_on_the_reply_route_is_waited_out(world: World) -> None:
    async def body() -> dict[str, Any]:
        world.standin.inject_fault("POST", rf"/channels/{world.standin.channel_id}/messages$", retry_after=0.3)
        message = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("q1"))
        return await world.standin.wait_reply(message)

    reply = world.run(body())
    assert reply["embeds"]
    posts = [r.status for r in world.standin.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert 429 in posts and posts[-1] == 200


def test_twenty_concurrent_asks_are_all_acknowledged_in_time_and_answered(world: World) -> None:
    questions = [WAGNER, "who denied the allegations?", UNANSWERABLE, "Who is Haftar?"]

    async def body() -> list[Any]:
        records = await asyncio.gather(
            *(world.standin.slash("ask", {"question": questions[i % 4]}, user=world.user(f"u{i}")) for i in range(20))
        )
        answers = await asyncio.gather(*(world.standin.wait_answered(r) for r in records))
        return list(zip(records, answers, strict=True))

    for record, answer in world.run(body()):
        assert record.errors == [] and record.acked_at is not None, "acknowledged inside the 3 s window"
        assert answer["embeds"] or "don't cover" in answer["content"]
    assert_all_payloads_valid(world.standin)


# ---- threads ----------------------------------------------------------------------------------------


def test_reply_in_thread_and_follow_ups_use_the_first_question_as_context(world: World) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        user = world.user("t1")
        message = await world.standin.send_message(WAGNER, mention_bot=True, author=user)
        thread = await world.standin.wait_for(lambda: world.standin.threads.get(message["id"]))
        first = await world.standin.wait_for(lambda: world.standin.bot_messages_in(thread["id"]))
        follow = await world.standin.send_message("and when did they say that?", channel_id=thread["id"], author=user)
        return first[0], await world.standin.wait_reply(follow)

    with overridden(world, reply_in_thread=True):
        first, follow_up = world.run(body())
    assert first["embeds"] and follow_up["channel_id"] == first["channel_id"]
    assert asked(world)[-1] == ("and when did they say that?", WAGNER)


# ---- library -------------------------------------------------------------------------------------------


def test_sources_lists_the_indexed_articles(world: World) -> None:
    async def body() -> Any:
        record = await world.standin.slash("sources", user=world.user("src"))
        return record, await world.standin.wait_answered(record)

    record, shown = world.run(body())
    assert record.ack_flags & EPHEMERAL
    assert "passage" in description(shown)
    assert shown["embeds"][0]["title"] == f"Indexed articles ({world.library.info.articles})"
    assert [c["label"] for row in shown["components"] for c in row["components"]] == ["Previous", "Next"]


def test_sources_paginates_long_lists() -> None:
    articles = tuple(
        IndexedArticle(f"id{i}", f"d{i}.txt", f"Title {i:02d}", None, "2024-01-01", None, "", 3) for i in range(40)
    )
    pages = source_pages(articles, IndexInfo("m", 1, "c", "2025-01-01T00:00:00+00:00", 40, 120, 300))
    assert len(pages) == 3 and "Title 00" in (pages[0].description or "") and "Page 3/3" in str(pages[2].footer.text)


def test_reindex_needs_manage_server_and_reports_the_new_counts(discord_index: Settings, tmp_path: Path) -> None:
    settings = copy_collection(discord_index, tmp_path)
    (settings.documents / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
    engine = Engine.open(settings, HashingEmbedder(), reader=None)

    with discord_world(settings, engine) as world:
        world.bot.feedback.remember_answer("feedfeedfeedfeed", "kept across rebuilds?", None, ())
        assert world.bot.feedback.record_vote("feedfeedfeedfeed", 7, -1)

        async def body() -> Any:
            refused = await world.standin.slash("reindex", user=world.user("nomanage"))
            refusal = await world.standin.wait_answered(refused)
            record = await world.standin.slash("reindex", user=world.user("admin"), permissions=MANAGE_GUILD)
            during = await world.standin.send_message(WAGNER, mention_bot=True, author=world.user("during"))
            answered_during = await world.standin.wait_reply(during)
            report = await world.standin.wait_answered(record)
            after = await world.standin.send_message(
                "who retired after forty years?", mention_bot=True, author=world.user("after")
            )
            return refusal, answered_during, report, await world.standin.wait_reply(after)

        refusal, during, report, after = world.run(body())
        votes = world.bot.feedback.votes()
    assert "Manage Server" in refusal["content"] and refusal["flags"] & EPHEMERAL
    assert during["embeds"], "questions are still answered while the index is rebuilt"
    assert "Indexed 28 articles" in report["content"] and "Questions now use it" in report["content"]
    assert "lighthouse keeper" in description(after)
    assert "kept across rebuilds?" in [vote.question for vote in votes]


# ---- tokens ----------------------------------------------------------------------------------------


def test_missing_token_is_one_clear_error(tmp_path: Path) -> None:
    settings = Settings(documents=tmp_path, index=tmp_path / "index", _env_file=None)
    with pytest.raises(DiscordTokenError) as raised:
        run_discord(Library(settings), ChatSettings(_env_file=None))  # type: ignore[call-arg]
    message = str(raised.value)
    assert "DISCORD_TOKEN" in message and "Reset Token" in message and ".env" in message


def test_a_rejected_token_is_one_clear_error_without_a_retry_loop(world: World) -> None:
    async def rejected(token: str) -> str:
        with pytest.raises(DiscordTokenError) as raised:
            chat = chat_settings(world.standin)
            await asyncio.wait_for(serve(world.library, chat, token, guild_ready_timeout=0.05), 20)
        return str(raised.value)

    message = world.run(rejected("wrong-token"))
    assert "rejected" in message and "DISCORD_TOKEN" in message and "Reset Token" in message
    world.standin.reject_gateway_token = True
    identifies = sum(1 for p in world.standin.gateway_received if p["op"] == 2)
    try:
        message = world.run(rejected(world.standin.token))
    finally:
        world.standin.reject_gateway_token = False
    assert "4004" in message
    assert sum(1 for p in world.standin.gateway_received if p["op"] == 2) == identifies + 1


class Stop(Exception):
    """Ends ``run_discord`` where the test has seen what it needs."""


def test_run_discord_keeps_the_token_out_of_every_log_line(caplog: pytest.LogCaptureFixture) -> None:
    token = "token-0123456789-abcdef"

    class LeakyLibrary:
        """Logs the token, as a careless library might, when the bot opens it."""

        def load(self) -> IndexInfo:
            logging.getLogger("bot.library").warning("opening with %s", token)
            raise Stop

    chat = ChatSettings(discord_token=SecretStr(token), _env_file=None)  # type: ignore[call-arg]
    root = logging.getLogger()
    try:
        with caplog.at_level(logging.INFO), pytest.raises(Stop):
            run_discord(LeakyLibrary(), chat)  # type: ignore[arg-type]
    finally:
        for handler in root.handlers:
            for redact in [f for f in handler.filters if isinstance(f, RedactToken)]:
                handler.removeFilter(redact)
    assert "opening with [token]" in caplog.text and token not in caplog.text


def test_citebot_discord_reads_everything_from_the_environment(discord_index: Settings, tmp_path: Path) -> None:
    """The ``citebot discord`` entry in a process of its own (on the fast tier's stand-ins): settings from
    the environment, the index opened and warmed, an answer, and Ctrl-C to stop."""
    copied = copy_collection(discord_index, tmp_path)

    async def body() -> tuple[dict[str, Any], bytes, int | None]:
        async with standin_running(token="env-token-1234567890") as standin:
            env = {
                **os.environ,
                "DISCORD_TOKEN": standin.token,
                "CITEBOT_MODEL": FAKE_MODEL,
                "CITEBOT_DOCUMENTS": str(copied.documents),
                "CITEBOT_INDEX": str(copied.index),
                "CITEBOT_DISCORD_API": standin.api_url,
                "CITEBOT_DISCORD_GATEWAY": standin.gateway_url,
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "tests" / "session_driver.py"),
                "discord",
                cwd=tmp_path,
                env=env,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                await standin.wait_for(lambda: standin.identifies, timeout=60)
                message = await standin.send_message(WAGNER, mention_bot=True)
                reply = await standin.wait_reply(message)
            finally:
                process.send_signal(signal.SIGINT)
                _, stderr = await asyncio.wait_for(process.communicate(), 30)
        return reply, stderr, process.returncode

    reply, stderr, returncode = asyncio.run(body())
    assert returncode == 0, stderr.decode()
    assert any(word in description(reply) for word in DENIALS)
    assert b"env-token-1234567890" not in stderr and b"Traceback" not in stderr


# ---- small pieces ----------------------------------------------------------------------------------


def test_strip_mentions_and_cooldown() -> None:
    assert strip_mentions("<@42> who  denied <@!42>?", 42) == "who denied ?"
    assert strip_mentions("<@&7> hi <@43>", 42, role_id=7) == "hi <@43>"
    cooldown = Cooldown(3)
    assert cooldown.wait(1, now=10) == 0 and cooldown.wait(1, now=11) == pytest.approx(2)
    assert cooldown.wait(2, now=11) == 0 and cooldown.wait(1, now=13.5) == 0
    assert Cooldown(0).wait(1, now=1) == 0 and Cooldown(0).wait(1, now=1) == 0
    queue = Cooldown(3)
    assert queue.queue(1, now=10) == 0 and queue.queue(1, now=11) == pytest.approx(2)
    assert queue.queue(1, now=11.5) is None, "one question waits per person, a third is refused"
    queue.done_waiting(1)
    assert queue.queue(1, now=12) == pytest.approx(4), "after the waiting one's turn at 13"


# ---- the real model ----------------------------------------------------------------------------------


@pytest.fixture
def real_world(shipped_settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[World]:
    """The bot over the real model's engine; its own files (votes, gaps) in this test's folder."""
    settings = make_settings(shipped_settings.documents, tmp_path / "index")
    with discord_world(settings, engine) as running:
        yield running


@pytest.mark.slow
def test_the_real_model_answers_a_mention_with_a_denial_in_bold(real_world: World) -> None:
    async def body() -> dict[str, Any]:
        message = await real_world.standin.send_message(WAGNER, mention_bot=True, author=real_world.user("m1"))
        return await real_world.standin.wait_reply(message, timeout=60)

    text = description(real_world.run(body(), timeout=90))
    sentences = bold_segments(text)[1::2]
    assert any(word in sentence for sentence in sentences for word in DENIALS), text
    assert text.startswith("**1.** Israel has joined the US propaganda campaign"), "title, unlinked: no URL"


@pytest.mark.slow
def test_the_real_model_abstains_on_an_off_topic_question(real_world: World) -> None:
    async def body() -> dict[str, Any]:
        message = await real_world.standin.send_message(
            "what is the best pizza recipe in Naples?", mention_bot=True, author=real_world.user("o1")
        )
        return await real_world.standin.wait_reply(message, timeout=60)

    reply = real_world.run(body(), timeout=90)
    assert reply["embeds"] == [] and reply["components"] == []
    assert "don't cover" in reply["content"]
