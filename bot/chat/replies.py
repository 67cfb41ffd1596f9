"""How the bot gets a reply out whatever fails around it, and what a Discord user may read of an error."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any

import discord

from bot.errors import CitebotError, DiskError, ModelError, disk_error
from bot.render.chat import DiscordReply

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on my side; it has been logged. Please try again."
REFUSED = "Discord would not take my answer to this (it has been logged). Please try asking in other words."
# A file path of the server: absolute, or relative with a folder in it; never the path of a URL.
SERVER_PATH = re.compile(r"(?<![\w:/.~-])(?:~?/)?[\w.@+-]+(?:/[\w.@+-]+)+/?")
CLI_REBUILD = "Run `citebot index`"
CHAT_REBUILD = "Someone with the Manage Server permission can run `/reindex`"
# A model problem that /reindex does not mend is mended on the server, with advice for a shell: the log has it.
READER_FOR_ADMIN = "The bot's reading model is damaged; the server's admin can restore it."
MODEL_FOR_ADMIN = "The bot's embedding model cannot be loaded; the server's admin can fix it."
READER_PARTS = ("reading model", "first cut", "thresholds")


def public_message(error: BaseException, retry: str = "/reindex") -> str:
    """What Discord users may read of an error, the one function every reply with an error goes through:
    no file paths of the server, no advice for a shell, and the fix they can make in Discord (a disk
    problem says to run ``retry`` again). The full message goes to the log; an error that is not meant
    for users at all (a bug) is logged with its traceback and told as ``UNEXPECTED``."""
    if isinstance(error, OSError):
        error = chat_disk_error(error, retry)
    if not isinstance(error, CitebotError):
        log.error("Told a Discord user that something went wrong", exc_info=error)
        return UNEXPECTED
    text = str(error)
    if isinstance(error, ModelError) and CLI_REBUILD not in text:
        log.error("Told a Discord user that a model cannot be used: %s", text)
        return READER_FOR_ADMIN if any(part in text for part in READER_PARTS) else MODEL_FOR_ADMIN
    public = SERVER_PATH.sub(lambda path: _file_name(text, path), text)
    public = " ".join(public.replace(CLI_REBUILD, CHAT_REBUILD).split())
    if public != text:
        log.warning("Told a Discord user: %s", text)
    return public


def _file_name(text: str, path: re.Match[str]) -> str:
    """A server path as its last part, marked as code unless it stands inside code already; a full stop
    after it stays outside."""
    found = path.group().rstrip(".")
    name = PurePosixPath(found).name
    return (name if text.count("`", 0, path.start()) % 2 else f"`{name}`") + path.group()[len(found) :]


def chat_disk_error(error: OSError, retry: str = "/reindex") -> DiskError:
    """An ``OSError`` during a rebuild (or ``retry``), as the one line a server manager can act on."""
    return disk_error(error, f"`{retry}`")


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
