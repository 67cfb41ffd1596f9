"""``/add url``, ``/follow url`` and ``/gaps`` (Manage Server), and the background poll of followed feeds.

The library fetches, saves and indexes in a thread (``asyncio.to_thread``) after the interaction is
deferred, so the event loop stays free; the new index is swapped in before the next question.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.chat.checks import for_managers
from bot.chat.replies import public_message
from bot.errors import CitebotError
from bot.render.chat import COLOUR, DESCRIPTION_LIMIT, escape, human_time, shorten

if TYPE_CHECKING:
    from bot.chat.bot import CitebotBot
    from bot.gaps import Gap
    from bot.ingest.feeds import PollResult
    from bot.library import Addition, Reindexed

log = logging.getLogger(__name__)

GAPS_SHOWN = 20
ADDED_SHOWN = 10


def gaps_embed(gaps: tuple[Gap, ...]) -> discord.Embed:
    """The unanswered questions, most asked first, with counts and when last asked."""
    lines = [
        f"**{gap.count}×** {escape(shorten(gap.question, 200))}"
        + (f" (+{len(gap.wordings) - 1} similar)" if len(gap.wordings) > 1 else "")
        + f" · last {human_time(gap.last_asked)}"
        for gap in gaps[:GAPS_SHOWN]
    ]
    embed = discord.Embed(
        title=f"Questions the sources did not cover ({len(gaps)})",
        description=shorten("\n".join(lines) or "None recorded yet.", DESCRIPTION_LIMIT),
        colour=COLOUR,
    )
    embed.set_footer(text="Add articles that answer them with /add or /follow.")
    return embed


def poll_summary(result: PollResult) -> str:
    """What following a feed brought: its title and each added article with its date."""
    name = escape(shorten(result.title or result.url, 150))
    lines = [f"Following **{name}**: {len(result.added)} new article{'s' if len(result.added) != 1 else ''}."]
    lines.extend(
        f"• {escape(shorten(article.title, 150))} ({escape(article.date or 'undated')})"
        for article in result.added[:ADDED_SHOWN]
    )
    if len(result.added) > ADDED_SHOWN:
        lines.append(f"…and {len(result.added) - ADDED_SHOWN} more.")
    if result.skipped:
        lines.append(f"{result.skipped} entr{'ies' if result.skipped != 1 else 'y'} could not be used.")
    return "\n".join(lines)


def added_reply(addition: Addition) -> str:
    """The article added, with its date, and whether questions use it yet; one already there is named
    (with the index update's failure, if it failed)."""
    added, update = addition.added, addition.indexed
    title = escape(shorten(added.title, 200))
    if not added.already_present:
        return f"Added **{title}** ({escape(added.date or 'undated')}). {indexing_state(update)}"
    if update.failure is not None:
        return f"Already in the collection: **{title}**. {indexing_state(update)}"
    return f"Already in the collection: **{title}**."


def indexing_state(update: Reindexed) -> str:
    """What the index update after an addition did, in a sentence for the user."""
    if update.failure is not None:
        return f"Indexing failed; questions use the previous index. {shorten(public_message(update.failure), 500)}"
    return "Questions now use it."


class CollectionCog(commands.Cog):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.poller = tasks.loop(minutes=bot.chat.feed_interval)(self.poll_feeds)
        self.poller.before_loop(self._wait_until_ready)

    async def cog_load(self) -> None:
        self.poller.start()

    async def cog_unload(self) -> None:
        self.poller.cancel()

    @app_commands.command(name="add", description="Add the article at an address to the collection.")
    @app_commands.describe(url="The article's http(s) address")
    @for_managers
    async def add(self, interaction: discord.Interaction, url: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            addition = await asyncio.to_thread(self.bot.library.add, url, files=False)
        except (CitebotError, OSError) as error:
            message = shorten(public_message(error, "/add"), 1800)
            await interaction.followup.send(f"Not added: {message}", ephemeral=True)
            return
        await interaction.followup.send(added_reply(addition), ephemeral=True)

    @app_commands.command(name="follow", description="Follow an RSS or Atom feed: its new articles are added.")
    @app_commands.describe(url="The feed's http(s) address")
    @for_managers
    async def follow(self, interaction: discord.Interaction, url: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            polled = await asyncio.to_thread(self.bot.library.follow, url)
        except (CitebotError, OSError) as error:
            message = shorten(public_message(error, "/follow"), 1800)
            await interaction.followup.send(f"Not followed: {message}", ephemeral=True)
            return
        state = indexing_state(polled.indexed) if polled.indexed else ""
        summary = f"{poll_summary(polled.results[0])} {state}".strip()
        await interaction.followup.send(shorten(summary, 2000), ephemeral=True)

    @app_commands.command(name="gaps", description="What people asked that the sources did not cover.")
    @for_managers
    async def gaps(self, interaction: discord.Interaction) -> None:
        gaps = await asyncio.to_thread(self.bot.library.gaps)
        await interaction.response.send_message(embed=gaps_embed(gaps), ephemeral=True)

    async def poll_feeds(self) -> int:
        """Poll every followed feed once and index what is new; the number of articles added. Never
        raises: an exception would stop the loop, and the next poll may well succeed."""
        try:
            polled = await asyncio.to_thread(self.bot.library.poll)
        except Exception:
            log.exception("Polling the followed feeds failed; trying again in %g minutes", self.bot.chat.feed_interval)
            return 0
        if polled.indexed is not None:
            log.info("Feeds brought %d new articles; %s", polled.added, indexing_state(polled.indexed))
        return polled.added

    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(CollectionCog(bot))
