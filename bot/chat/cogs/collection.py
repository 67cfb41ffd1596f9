"""``/add url``, ``/follow url`` and ``/gaps`` (Manage Server), and the background poll of followed feeds.

Fetching, saving and indexing run in threads (``asyncio.to_thread``) after the interaction is
deferred, so the event loop stays free. A new index is published atomically; the engine swaps it in
before the next question.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.chat.replies import UNEXPECTED, public_message
from bot.errors import CitebotError
from bot.render.chat import COLOUR, DESCRIPTION_LIMIT, escape, human_time, shorten

if TYPE_CHECKING:
    from bot.chat.bot import CitebotBot
    from bot.gaps import Gap
    from bot.ingest.feeds import PollResult

log = logging.getLogger(__name__)

GAPS_SHOWN = 20
ADDED_SHOWN = 10
P = ParamSpec("P")
T = TypeVar("T")


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


def for_managers(command: Callable[P, T]) -> Callable[P, T]:
    """Servers only; hidden from, and refused to, members without Manage Server."""
    command = app_commands.guild_only()(command)
    command = app_commands.checks.has_permissions(manage_guild=True)(command)
    return app_commands.default_permissions(manage_guild=True)(command)


class CollectionCog(commands.Cog):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self._indexing = asyncio.Lock()
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
        from bot.ingest.fetch import add_url

        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = self.bot.settings
        try:
            added = await asyncio.to_thread(add_url, url, settings.documents, allow_private=settings.allow_private_urls)
        except (CitebotError, OSError) as error:
            message = shorten(public_message(error, "/add"), 1800)
            await interaction.followup.send(f"Not added: {message}", ephemeral=True)
            return
        title = escape(shorten(added.title, 200))
        if added.already_present:
            await interaction.followup.send(f"Already in the collection: **{title}**.", ephemeral=True)
            return
        state = await self._reindex()
        date = escape(added.date or "undated")
        await interaction.followup.send(f"Added **{title}** ({date}). {state}", ephemeral=True)

    @app_commands.command(name="follow", description="Follow an RSS or Atom feed: its new articles are added.")
    @app_commands.describe(url="The feed's http(s) address")
    @for_managers
    async def follow(self, interaction: discord.Interaction, url: str) -> None:
        from bot.ingest.feeds import follow_feed

        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await asyncio.to_thread(follow_feed, self.bot.settings, url)
        except (CitebotError, OSError) as error:
            message = shorten(public_message(error, "/follow"), 1800)
            await interaction.followup.send(f"Not followed: {message}", ephemeral=True)
            return
        state = await self._reindex() if result.added else ""
        await interaction.followup.send(shorten(f"{poll_summary(result)} {state}".strip(), 2000), ephemeral=True)

    @app_commands.command(name="gaps", description="What people asked that the sources did not cover.")
    @for_managers
    async def gaps(self, interaction: discord.Interaction) -> None:
        from bot.gaps import coverage_gaps

        gaps = await asyncio.to_thread(coverage_gaps, self.bot.settings.index)
        await interaction.response.send_message(embed=gaps_embed(gaps), ephemeral=True)

    async def poll_feeds(self) -> int:
        """Poll every followed feed once and index what is new; the number of articles added. Never
        raises: an exception would stop the loop, and the next poll may well succeed."""
        from bot.ingest.feeds import update_feeds

        try:
            results = await asyncio.to_thread(update_feeds, self.bot.settings)
        except Exception:
            log.exception("Polling the followed feeds failed; trying again in %g minutes", self.bot.chat.feed_interval)
            return 0
        added = sum(len(result.added) for result in results)
        if added:
            log.info("Feeds brought %d new articles; %s", added, await self._reindex())
        return added

    async def _reindex(self) -> str:
        """Update the index in a thread and swap it in; what happened, in a sentence for the user."""
        from bot.pipeline import build_index

        engine = self.bot.engine
        async with self._indexing:
            try:
                await asyncio.to_thread(build_index, self.bot.settings, False, getattr(engine, "embedder", None))
                await asyncio.to_thread(engine.refresh)
            except (CitebotError, OSError) as error:
                return f"Indexing failed; questions use the previous index. {shorten(public_message(error), 500)}"
            except Exception:
                log.exception("Indexing after adding articles failed")
                return "Indexing failed; questions use the previous index. " + UNEXPECTED
        return "Questions now use it."

    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(CollectionCog(bot))
