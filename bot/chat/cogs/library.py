"""``/sources`` lists what the index holds; ``/reindex`` rebuilds it in the background and swaps it in.

Questions asked during a rebuild are answered from the old index: the library publishes the new one
atomically and swaps it in only once it is complete.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.checks import for_managers
from bot.chat.replies import public_message
from bot.models import IndexedArticle, IndexInfo
from bot.render.chat import COLOUR, DESCRIPTION_LIMIT, escape, human_time, shorten

if TYPE_CHECKING:
    from bot.chat.bot import CitebotBot
    from bot.library import Reindexed

log = logging.getLogger(__name__)

PER_PAGE = 15
PAGE_TIMEOUT = 300.0
REBUILD_FAILED = "The rebuild failed; I keep answering from the previous index."
REBUILD_RUNNING = "A rebuild is already running; I will use it when done."


def source_pages(articles: tuple[IndexedArticle, ...], info: IndexInfo) -> list[discord.Embed]:
    """Embeds of up to PER_PAGE articles each: number, title (linked), date, passages."""
    lines = []
    for number, article in enumerate(sorted(articles, key=lambda a: (a.title.casefold(), a.document)), start=1):
        title = escape(shorten(article.title or article.document, 120))
        url = article.url if article.url and article.url.startswith(("http://", "https://")) else None
        shown = f"[{title}]({url.replace(')', '%29').replace(' ', '%20')})" if url and len(url) < 300 else title
        details = [article.date] if article.date else []
        details.append(f"{article.passages} passage{'s' if article.passages != 1 else ''}")
        lines.append(f"**{number}.** {shown} · {escape(' · '.join(details))}")
    chunks = [lines[i : i + PER_PAGE] for i in range(0, len(lines), PER_PAGE)] or [["No articles indexed yet."]]
    pages = []
    for page, chunk in enumerate(chunks, start=1):
        embed = discord.Embed(
            title=f"Indexed articles ({info.articles})",
            description=shorten("\n".join(chunk), DESCRIPTION_LIMIT),
            colour=COLOUR,
        )
        embed.set_footer(
            text=f"Page {page}/{len(chunks)} · {info.passages} passages · built {human_time(info.built_at)}"
        )
        pages.append(embed)
    return pages


def reindex_reply(update: Reindexed) -> str:
    """What the rebuild did and whether questions use it now, or why it failed."""
    if update.failure is not None:
        return f"{REBUILD_FAILED} {public_message(update.failure)}"
    state = "Questions now use it." if update.swapped else "The index was already current."
    return f"{shorten(update.checked().summary(), 1700)} {state}"


class Pager(discord.ui.View):
    """Previous/next buttons, for the person who asked only; gone after PAGE_TIMEOUT."""

    def __init__(self, pages: list[discord.Embed], owner_id: int) -> None:
        super().__init__(timeout=PAGE_TIMEOUT)
        self.pages, self.owner_id, self.page = pages, owner_id, 0
        self.interaction: discord.Interaction | None = None
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page == len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("Run `/sources` to page through the list yourself.", ephemeral=True)
            return False
        return True

    async def _show(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), len(self.pages) - 1)
        self._sync()
        await interaction.response.edit_message(embed=self.pages[self.page], view=self)

    async def on_timeout(self) -> None:
        """Grey the buttons out when they stop working, rather than leave them to fail when clicked."""
        for button in (self.previous, self.next):
            button.disabled = True
        if self.interaction is not None:
            try:
                await self.interaction.edit_original_response(view=self)
            except discord.HTTPException as error:
                log.info("Could not disable the /sources buttons: %s", error)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._show(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._show(interaction, 1)


class LibraryCog(commands.Cog):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="List the articles I answer from.")
    async def sources(self, interaction: discord.Interaction) -> None:
        library = self.bot.library
        articles = await asyncio.to_thread(library.articles)
        pages = source_pages(articles, library.info)
        if len(pages) == 1:
            await interaction.response.send_message(embed=pages[0], ephemeral=True)
        else:
            pager = Pager(pages, interaction.user.id)
            pager.interaction = interaction
            await interaction.response.send_message(embed=pages[0], view=pager, ephemeral=True)

    @app_commands.command(name="reindex", description="Rebuild the index from the documents folder.")
    @for_managers
    async def reindex(self, interaction: discord.Interaction) -> None:
        if self.bot.library.indexing:
            await interaction.response.send_message(REBUILD_RUNNING, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        update = await asyncio.to_thread(self.bot.library.reindex)
        await interaction.followup.send(reindex_reply(update), ephemeral=True)


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(LibraryCog(bot))
