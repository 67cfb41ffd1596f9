"""The Discord bot: a ``commands.Bot`` whose cogs only translate between Discord and the ``Library``.

``run_discord(library, chat)`` is what ``citebot discord`` calls. Questions are answered off the event
loop in one bounded worker thread, so the loop stays free to acknowledge every interaction within
Discord's 3 s.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
from typing import Any, cast

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.chat.cooldown import Cooldown
from bot.chat.replies import public_message
from bot.errors import CitebotError
from bot.feedback import FeedbackStore, feedback_path
from bot.library import Library
from bot.models import Answer
from bot.settings import ChatSettings

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.chat.cogs.ask", "bot.chat.cogs.buttons", "bot.chat.cogs.library", "bot.chat.cogs.collection")
MAX_PENDING = 100
RECENT_ANSWERS = 500
TOKEN_HELP = (
    "Create a bot at https://discord.com/developers/applications (your application → Bot → Reset Token), "
    "then set DISCORD_TOKEN=<the token> in the environment or in a .env file."
)


class DiscordTokenError(CitebotError):
    """No bot token, or one Discord rejects."""


class DiscordIntentError(CitebotError):
    """The bot asks for the Message Content intent but the application does not have it enabled."""


class BusyError(CitebotError):
    """Too many questions are waiting; better to say so than to answer minutes late."""


class DiscordUnreachableError(CitebotError):
    """No connection to Discord: offline, DNS failing, or the API address is wrong."""


def bot_token(settings: ChatSettings) -> str:
    """The token from DISCORD_TOKEN, or a DiscordTokenError saying how to get one."""
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        raise DiscordTokenError(f"No Discord bot token: DISCORD_TOKEN is not set. {TOKEN_HELP}")
    return token


def configure_endpoints(settings: ChatSettings) -> None:
    """Point discord.py at ``settings.discord_api``/``discord_gateway`` (the real Discord by default).

    discord.py has no setting for this; both class attributes are read when a request or a connection
    is made, so assigning them before ``start()`` reaches every module that imported them.
    """
    discord.http.Route.BASE = settings.discord_api.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway)


def is_loopback(url: str) -> bool:
    host = yarl.URL(url).host or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_guard() -> aiohttp.TraceConfig:
    """A trace hook refusing any request to a non-loopback host: a stand-in must never leak to Discord."""

    async def refuse_remote(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        if not is_loopback(str(params.url)):
            raise aiohttp.ClientConnectionError(f"refused non-loopback request to {params.url.host}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(refuse_remote)
    return trace


class RedactToken(logging.Filter):
    """Belt and braces: whatever logs a message, the token never reaches a log line."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "[token]"), None
        return True


def command_shape(command: dict[str, Any]) -> dict[str, Any]:
    """What of a slash command Discord shows and enforces, with Discord's defaults filled in, so the
    bot's own definition and the one Discord holds compare equal exactly when no sync is needed."""
    permissions = command.get("default_member_permissions")
    return {
        "name": command["name"],
        "description": command.get("description", ""),
        "type": command.get("type", 1),
        "options": [option_shape(option) for option in command.get("options") or ()],
        "default_member_permissions": None if permissions is None else str(permissions),
        "guild_only": command.get("dm_permission") is False or command.get("contexts") == [0],
        "nsfw": bool(command.get("nsfw")),
    }


def option_shape(option: dict[str, Any]) -> dict[str, Any]:
    shape = {key: value for key, value in option.items() if key in OPTION_KEYS and value is not None}
    shape["required"] = bool(option.get("required"))
    shape["options"] = [option_shape(inner) for inner in option.get("options") or ()]
    return shape


OPTION_KEYS = (
    "type", "name", "description", "choices", "channel_types", "autocomplete",
    "min_value", "max_value", "min_length", "max_length",
)  # fmt: skip


def same_commands(registered: Iterable[dict[str, Any]], ours: Iterable[dict[str, Any]]) -> bool:
    def shapes(commands: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted((command_shape(command) for command in commands), key=itemgetter("name"))

    return shapes(registered) == shapes(ours)


class CitebotBot(commands.Bot):
    """Holds the library, the feedback store and the bounded worker the cogs share."""

    def __init__(self, library: Library, chat: ChatSettings, *, workers: int = 1, **options: Any) -> None:
        intents = discord.Intents.default()
        # Mentions carry their content anyway; reading plain messages needs the privileged intent.
        intents.message_content = bool(chat.ask_channel_list or chat.reply_in_thread)
        # The bot never joins voice: not having PyNaCl or davey installed is no news worth a warning.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        if is_loopback(chat.discord_api):
            options.setdefault("http_trace", loopback_guard())
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        self.library = library
        self.chat = chat
        self.feedback = FeedbackStore(feedback_path(library.settings))
        self.more_cooldown = Cooldown(chat.cooldown)
        self._worker = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="citebot-ask")
        self._pending = 0
        self._recent: OrderedDict[str, Answer] = OrderedDict()
        self.synced: list[discord.app_commands.AppCommand] = []

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.tree.error(self.on_tree_error)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Sync the slash commands only when Discord holds other ones: syncing is rate-limited, and
        only Discord knows what it holds (another copy of the bot may have synced)."""
        assert self.application_id is not None
        registered = cast(list[dict[str, Any]], await self.http.get_global_commands(self.application_id))
        ours = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        if same_commands(registered, ours):
            log.info("The %d application commands are already registered", len(ours))
            return
        self.synced = await self.tree.sync()
        log.info("Synced %d application commands", len(self.synced))

    async def on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Failed checks and errors become an ephemeral reply; unexpected ones are logged with traceback."""
        if isinstance(error, app_commands.MissingPermissions):
            text = "You need the Manage Server permission for this command."
        elif isinstance(error, app_commands.CheckFailure):
            text = "You cannot use this command here."
        else:
            command = f"/{interaction.command.name}" if interaction.command else "/reindex"
            text = public_message(getattr(error, "original", error), command)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.exception("Could not report an error to the user")

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: questions are handled by the ask cog's listener."""

    async def close(self) -> None:
        await super().close()
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def ask(
        self, question: str, context: str | None = None, asker: int | None = None, where: str | None = None
    ) -> Answer:
        """``Library.ask`` in the single worker thread; refuses when too many questions wait."""
        if self._pending >= MAX_PENDING:
            raise BusyError("Too many questions are waiting right now. Please ask again in a minute.")
        self._pending += 1
        try:
            call = functools.partial(self.library.ask, question, context, asker, where)
            return await asyncio.get_running_loop().run_in_executor(self._worker, call)
        finally:
            self._pending -= 1

    def remember(self, answer_id: str, answer: Answer) -> None:
        """Keep recent answers so "More sources" needs no second retrieval (re-asked after a restart)."""
        self._recent[answer_id] = answer
        while len(self._recent) > RECENT_ANSWERS:
            self._recent.popitem(last=False)

    def recent(self, answer_id: str) -> Answer | None:
        return self._recent.get(answer_id)


async def serve(library: Library, chat: ChatSettings, token: str, **options: Any) -> None:
    """Run until closed; a rejected token or missing intent becomes a clear CitebotError, not a retry loop."""
    configure_endpoints(chat)
    bot = CitebotBot(library, chat, **options)
    async with bot:
        try:
            await bot.start(token)
        except discord.LoginFailure:
            raise DiscordTokenError(f"Discord rejected the bot token in DISCORD_TOKEN. {TOKEN_HELP}") from None
        except discord.PrivilegedIntentsRequired:
            raise DiscordIntentError(
                "Discord refused the Message Content intent, which CITEBOT_ASK_CHANNELS and "
                "CITEBOT_REPLY_IN_THREAD need. Enable it in the developer portal (your application → Bot → "
                "Privileged Gateway Intents → Message Content Intent), or unset those settings."
            ) from None
        except discord.ConnectionClosed as closed:
            if closed.code == 4004:
                raise DiscordTokenError(
                    f"Discord rejected the bot token in DISCORD_TOKEN (close code 4004). {TOKEN_HELP}"
                ) from None
            raise
        except (aiohttp.ClientConnectionError, OSError) as error:
            log.debug("Could not reach Discord", exc_info=True)
            raise DiscordUnreachableError(
                f"Cannot reach Discord at {chat.discord_api} ({error}). Check the network connection and try again."
            ) from None


def run_discord(library: Library, chat: ChatSettings) -> None:
    """``citebot discord``: check the token, open the index (building it first when there is none),
    warm the model, then serve until Ctrl-C."""
    token = bot_token(chat)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        handler.addFilter(RedactToken(token))
    info = library.load()
    log.info("Index: %d articles, %d passages, built %s", info.articles, info.passages, info.built_at)
    try:
        asyncio.run(serve(library, chat, token))
    except KeyboardInterrupt:
        log.info("Stopped.")
