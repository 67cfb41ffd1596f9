"""Buttons under an answer: 👍 / 👎 and "More sources".

They are ``DynamicItem``s with namespaced custom ids (``citebot:vote:up:<answer id>``,
``citebot:more:<answer id>``), so any button ever sent keeps working after a restart: the answer id is
looked up in the feedback store, which outlives both the process and index rebuilds.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from typing import TYPE_CHECKING, Any

import discord

from bot.chat.replies import public_message
from bot.models import Answer
from bot.render.chat import render_more, render_notice

if TYPE_CHECKING:
    from bot.chat.bot import CitebotBot

log = logging.getLogger(__name__)

ANSWER_ID = r"[0-9a-f]{16}"
VOTE_NOT_STORED = "I could not store your vote just now (it has been logged). Please try again later."


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"citebot:vote:(?P<vote>up|down):(?P<answer>{ANSWER_ID})",
):
    """One vote per person per answer; clicking again changes it."""

    def __init__(self, vote: str, answer_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if vote == "up" else "👎",
                custom_id=f"citebot:vote:{vote}:{answer_id}",
            )
        )
        self.vote, self.answer_id = vote, answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VoteButton:
        return cls(match["vote"], match["answer"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: CitebotBot = interaction.client
        value = 1 if self.vote == "up" else -1
        try:
            stored = await asyncio.to_thread(bot.feedback.record_vote, self.answer_id, interaction.user.id, value)
        except (OSError, sqlite3.Error) as error:
            log.warning("Could not store a vote on %s: %s", self.answer_id, error)
            text = VOTE_NOT_STORED
        else:
            text = "Thanks for the feedback." if stored else "I no longer know this answer, so the vote was not kept."
        await interaction.response.send_message(text, ephemeral=True)


class MoreButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"citebot:more:(?P<answer>{ANSWER_ID})"):
    """The next citations, shown only to whoever clicks."""

    def __init__(self, answer_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary, label="More sources", custom_id=f"citebot:more:{answer_id}"
            )
        )
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> MoreButton:
        return cls(match["answer"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: CitebotBot = interaction.client
        wait = bot.more_cooldown.wait(interaction.user.id)
        if wait:
            text = f"One at a time, please: you can ask for more sources again in {max(wait, 0.1):.1f} s."
            await interaction.response.send_message(text, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            answer = bot.recent(self.answer_id) or await self._ask_again(bot)
        except Exception as error:
            reply = render_notice(public_message(error))
        else:
            reply = (
                render_more(answer, bot.library.info)
                if answer
                else render_notice("I no longer know this answer; please ask the question again.")
            )
        await interaction.followup.send(
            content=reply.content or discord.utils.MISSING, embeds=list(reply.embeds), ephemeral=True
        )

    async def _ask_again(self, bot: CitebotBot) -> Answer | None:
        """After a restart the answer is gone from memory: ask its stored question again (not a new
        question, so not recorded as a gap)."""
        record = await asyncio.to_thread(bot.feedback.answer, self.answer_id)
        if record is None:
            return None
        answer = await bot.ask(record.question, record.context)
        bot.remember(self.answer_id, answer)
        return answer


def answer_view(answer_id: str, more: bool) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton("up", answer_id))
    view.add_item(VoteButton("down", answer_id))
    if more:
        view.add_item(MoreButton(answer_id))
    return view


async def setup(bot: CitebotBot) -> None:
    bot.add_dynamic_items(VoteButton, MoreButton)
