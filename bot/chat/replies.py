"""How the bot gets a reply out whatever fails around it, and what a Discord user may read of an error."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any

import discord

from bot.errors import CitebotError, DiskError, disk_error
from bot.render.chat import DiscordReply

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on my side; it has been logged. Please try again."
REFUSED = "Discord would not take my answer to this (it has been logged). Please try asking in other words."
# A file path of the server: absolute, or relative with a folder in it; never the path of a URL.
SERVER_PATH = re.compile(r"(?<![\w:/.~-])(?:~?/)?[\w.@+-]+(?:/[\w.@+-]+)+/?")
CLI_REBUILD = "Run `citebot index`"
CHAT_REBUILD = "Someone with the Manage Server permission can run `/reindex`"


def public_message(error: CitebotError) -> str:
    """A user error as Discord users may read it: no file paths of the server, and the fix they can
    make there. The full message goes to the log."""
    text = str(error)
    public = SERVER_PATH.sub(lambda path: f"`{PurePosixPath(path.group()).name}`", text)
    public = public.replace(CLI_REBUILD, CHAT_REBUILD)
    if public != text:
        log.warning("Told a Discord user: %s", text)
    return public


def chat_disk_error(error: OSError) -> DiskError:
    """An ``OSError`` during a rebuild, as the one line a server manager can act on."""
    return disk_error(error, "`/reindex`")


def send_kwargs(reply: DiscordReply, view: discord.ui.View | None) -> dict[str, Any]:
    """``send``/``followup.send`` arguments; ``view`` is omitted rather than None (webhooks refuse None)."""
    kwargs: dict[str, Any] = {"content": reply.content, "embeds": list(reply.embeds)}
    if view is not None:
        kwargs["view"] = view
    return kwargs


def refused_payload(error: discord.HTTPException) -> bool:
    """Discord refused what was sent (a 4xx other than a missing permission or a rate limit)."""
    return 400 <= error.status < 500 and error.status != 429 and not isinstance(error, discord.Forbidden)


async def send_or_note(
    send: Callable[..., Awaitable[Any]], reply: DiscordReply, view: discord.ui.View | None = None
) -> None:
    """Send the reply; when Discord refuses the payload, send a short plain note instead, so the
    asker is never left with silence."""
    try:
        await send(**send_kwargs(reply, view))
    except discord.HTTPException as error:
        if not refused_payload(error):
            raise
        log.error("Discord refused a reply (%s %s); sent a short note instead", error.status, error.text)
        await send(content=REFUSED)
