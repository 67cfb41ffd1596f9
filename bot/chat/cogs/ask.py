"""Three ways to ask, one way to answer: ``/ask``, a mention, or any message in an ask channel or in a
thread the bot opened. Every question gets a reply or a visible error, never silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.cogs.buttons import answer_view
from bot.chat.cooldown import Cooldown
from bot.chat.replies import public_message, send_or_note
from bot.models import Answer
from bot.render.chat import DiscordReply, limit_problems, render_answer, render_notice, shorten

if TYPE_CHECKING:
    from bot.chat.bot import CitebotBot

log = logging.getLogger(__name__)

EMPTY_MENTION_HINT = (
    "Ask me a question after the mention, e.g. “@{name} who denied the Wagner claims?”, or use `/ask`. "
    "I answer with verbatim, cited passages from the articles I have read (see `/sources`)."
)
THREAD_NAME_LIMIT = 100
ALREADY_WAITING = "One question at a time, please: your previous one is still waiting its turn. Ask again after it."


def strip_mentions(content: str, user_id: int, role_id: int | None = None) -> str:
    """The question without the bot's user (or managed role) mention; other text stays as typed."""
    pattern = rf"<@!?{user_id}>" + (rf"|<@&{role_id}>" if role_id else "")
    return " ".join(re.sub(pattern, " ", content).split())


class AskCog(commands.Cog):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.cooldown = Cooldown(bot.chat.cooldown)
        self._thread_questions: dict[int, str] = {}

    async def answer(
        self, question: str, context: str | None, asker: discord.abc.User, channel: object
    ) -> tuple[DiscordReply, discord.ui.View | None]:
        """Ask the library (which records a question the sources don't cover for `/gaps`) and render;
        an error becomes what ``public_message`` tells of it."""
        where = f"#{getattr(channel, 'name', None) or getattr(channel, 'id', 'direct')}"
        try:
            answer = await self.bot.ask(question, context, asker.id, where)
            reply = render_answer(answer, self.bot.library.info)
            problems = limit_problems(reply)
            if problems:
                raise RuntimeError(f"rendered answer breaks Discord limits: {problems}")
        except Exception as error:
            return render_notice(public_message(error)), None
        if not reply.embeds:
            return reply, None
        return reply, await self.buttons(answer, context)

    async def buttons(self, answer: Answer, context: str | None) -> discord.ui.View | None:
        """Vote and "More sources" buttons, once the answer is stored for them; when the feedback
        file cannot be written (locked, read-only, full) the answer goes out without buttons."""
        answer_id = secrets.token_hex(8)
        shown = answer.citations[:3]
        try:
            await asyncio.to_thread(self.bot.feedback.remember_answer, answer_id, answer.question, context, shown)
        except (OSError, sqlite3.Error) as error:
            log.warning("Could not store the answer for its buttons (%s); sending it without them", error)
            return None
        self.bot.remember(answer_id, answer)
        return answer_view(answer_id, more=bool(answer.more))

    # ---- /ask ------------------------------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask the articles; the answer quotes them verbatim, with sources.")
    @app_commands.describe(question="What do you want to know?")
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 1000]) -> None:
        wait = self.cooldown.queue(interaction.user.id)
        if wait is None:
            await interaction.response.send_message(ALREADY_WAITING, ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        await self.wait_turn(interaction.user.id, wait)
        reply, view = await self.answer(question, None, interaction.user, interaction.channel)
        await send_or_note(interaction.followup.send, reply, view)

    async def wait_turn(self, user_id: int, seconds: float) -> None:
        """A question asked inside the cooldown is answered when its turn comes, not refused."""
        try:
            if seconds:
                await asyncio.sleep(seconds)
        finally:
            self.cooldown.done_waiting(user_id)

    # ---- messages --------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.author.id == me.id or message.guild is None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        role = message.guild.self_role
        mentioned = me in message.mentions or (role is not None and role in message.role_mentions)
        context = await self.thread_context(message.channel)
        if not (mentioned or context is not None or self.in_ask_channel(message.channel)):
            return
        question = strip_mentions(message.content, me.id, role.id if role else None)
        if not question:
            if mentioned:
                await self.send_reply(message, render_notice(EMPTY_MENTION_HINT.format(name=me.display_name)), None)
            return
        wait = self.cooldown.queue(message.author.id)
        if wait is None:
            await self.send_reply(message, render_notice(ALREADY_WAITING), None)
            return
        await self.wait_turn(message.author.id, wait)
        with contextlib.suppress(discord.HTTPException):  # "typing..." is a courtesy; the answer is not
            await message.channel.typing()
        reply, view = await self.answer(question, context, message.author, message.channel)
        if self.bot.chat.reply_in_thread and isinstance(message.channel, discord.TextChannel) and view:
            thread = await self.open_thread(message, question)
            if thread is not None and await self.send_in_thread(thread, reply, view):
                return
        await self.send_reply(message, reply, view)

    async def send_in_thread(self, thread: discord.Thread, reply: DiscordReply, view: discord.ui.View) -> bool:
        """False when the thread took nothing, so the answer goes to the channel instead."""
        try:
            await send_or_note(thread.send, reply, view)
        except discord.HTTPException as error:
            log.warning("Could not answer in the thread, replying in the channel instead: %s", error)
            return False
        return True

    def in_ask_channel(self, channel: Any) -> bool:
        wanted = self.bot.chat.ask_channel_list
        return bool(wanted) and (str(channel.id) in wanted or getattr(channel, "name", None) in wanted)

    async def thread_context(self, channel: Any) -> str | None:
        """In a thread the bot opened, its first question (context for follow-ups); otherwise None."""
        me = self.bot.user
        if not isinstance(channel, discord.Thread) or me is None or channel.owner_id != me.id:
            return None
        known = self._thread_questions.get(channel.id)
        if known is not None:
            return known
        question = channel.name
        if channel.parent is not None:
            try:
                starter = await channel.parent.fetch_message(channel.id)  # type: ignore[union-attr]
            except discord.HTTPException:
                pass
            else:
                question = strip_mentions(starter.content, me.id) or question
        self._thread_questions[channel.id] = question
        return question

    async def open_thread(self, message: discord.Message, question: str) -> discord.Thread | None:
        try:
            thread = await message.create_thread(name=shorten(question, THREAD_NAME_LIMIT), auto_archive_duration=1440)
        except discord.HTTPException as error:
            log.warning("Could not open a thread, replying in the channel instead: %s", error)
            return None
        self._thread_questions[thread.id] = question
        return thread

    async def send_reply(self, message: discord.Message, reply: DiscordReply, view: discord.ui.View | None) -> None:
        """Reply to the message; if Discord refuses the answer, say so visibly rather than stay silent."""
        await send_or_note(functools.partial(message.reply, mention_author=False), reply, view)


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(AskCog(bot))
