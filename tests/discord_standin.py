"""A stand-in for Discord's gateway and REST API, served by aiohttp on 127.0.0.1.

It is as faithful as the bot needs: zlib-stream gateway with heartbeats, IDENTIFY/READY/GUILD_CREATE,
RESUME with replay, close 4004 on a bad token; the REST routes the bot calls, with Discord's limits
(400/50035, empty message 50006), the 3-second interaction window (10062), double acknowledgement
(40060) and exact ``Content-Type: application/json``. Every REST call and gateway payload is recorded,
and faults (429 with ``Via`` + ``retry_after``, dropped sockets, RECONNECT, INVALID_SESSION) can be
injected. Tests drive it through helpers that inject MESSAGE_CREATE and INTERACTION_CREATE events and
await what the bot sends back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import yarl
from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
ACK_WINDOW = 3.0
_BODY = web.RequestKey("body", object)
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Discord's documented limits.
CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBEDS_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
ACTION_ROWS_LIMIT = 5
ROW_COMPONENTS_LIMIT = 5
CUSTOM_ID_LIMIT = 100
BUTTON_LABEL_LIMIT = 80


class _Ids:
    """Real-looking snowflakes, so ``created_at`` and ordering behave as on Discord."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._counter) & 0x3FFFFF))


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Discord's exact content type: discord.py parses JSON only for ``application/json``, no charset."""
    response = web.Response(body=json.dumps(data).encode(), status=status, headers=headers or {})
    response.content_type = "application/json"
    response.charset = None
    return response


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return json_response(body, status=status)


def message_problems(payload: dict[str, Any]) -> list[str]:
    """Everything Discord would refuse in a message payload, as readable strings (empty if valid)."""
    problems: list[str] = []
    content = payload.get("content")
    if content is not None and len(str(content)) > CONTENT_LIMIT:
        problems.append(f"content: {len(content)} > {CONTENT_LIMIT}")
    embeds = payload.get("embeds") or []
    if len(embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"embeds: {len(embeds)} > {EMBEDS_PER_MESSAGE}")
    total = 0
    for i, embed in enumerate(embeds):
        checks: list[tuple[str, str | None, int]] = [
            ("title", embed.get("title"), EMBED_TITLE_LIMIT),
            ("description", embed.get("description"), EMBED_DESCRIPTION_LIMIT),
            ("footer.text", (embed.get("footer") or {}).get("text"), FOOTER_LIMIT),
            ("author.name", (embed.get("author") or {}).get("name"), AUTHOR_LIMIT),
        ]
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS_LIMIT:
            problems.append(f"embeds.{i}.fields: {len(fields)} > {EMBED_FIELDS_LIMIT}")
        for j, embed_field in enumerate(fields):
            for key, limit in (("name", FIELD_NAME_LIMIT), ("value", FIELD_VALUE_LIMIT)):
                value = embed_field.get(key)
                if not value or not str(value).strip():
                    problems.append(f"embeds.{i}.fields.{j}.{key}: required")
                checks.append((f"fields.{j}.{key}", value, limit))
        for name, value, limit in checks:
            if value is None:
                continue
            total += len(value)
            if len(value) > limit:
                problems.append(f"embeds.{i}.{name}: {len(value)} > {limit}")
        for key in ("url",):
            if embed.get(key) is not None and not _valid_url(embed[key]):
                problems.append(f"embeds.{i}.{key}: not a well formed URL")
    if total > EMBEDS_TOTAL_LIMIT:
        problems.append(f"embeds: {total} characters > {EMBEDS_TOTAL_LIMIT}")
    rows = payload.get("components") or []
    if len(rows) > ACTION_ROWS_LIMIT:
        problems.append(f"components: {len(rows)} rows > {ACTION_ROWS_LIMIT}")
    custom_ids: list[str] = []
    for i, row in enumerate(rows):
        children = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(children) <= ROW_COMPONENTS_LIMIT:
            problems.append(f"components.{i}: an action row holds 1 to {ROW_COMPONENTS_LIMIT} components")
        for j, child in enumerate(children):
            custom_id = child.get("custom_id")
            if child.get("type") == 2 and child.get("style") != 5 and not custom_id:
                problems.append(f"components.{i}.{j}.custom_id: required")
            if custom_id is not None:
                custom_ids.append(custom_id)
                if len(custom_id) > CUSTOM_ID_LIMIT:
                    problems.append(f"components.{i}.{j}.custom_id: > {CUSTOM_ID_LIMIT}")
            if len(child.get("label") or "") > BUTTON_LABEL_LIMIT:
                problems.append(f"components.{i}.{j}.label: > {BUTTON_LABEL_LIMIT}")
    if len(custom_ids) != len(set(custom_ids)):
        problems.append("components: custom ids must be unique")
    return problems


def _valid_url(url: str) -> bool:
    try:
        parsed = yarl.URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host) and not re.search(r"\s", url)


def is_empty_message(payload: dict[str, Any]) -> bool:
    return not any(payload.get(key) for key in ("content", "embeds", "components", "sticker_ids", "poll"))


def pinged(payload: dict[str, Any]) -> dict[str, Any]:
    """Who Discord would notify for this message: only ``content`` pings, filtered by allowed_mentions."""
    content = str(payload.get("content") or "")
    allowed = payload.get("allowed_mentions")
    parse = {"everyone", "users", "roles"} if allowed is None else set(allowed.get("parse") or [])
    users = set(allowed.get("users") or []) if allowed else set()
    roles = set(allowed.get("roles") or []) if allowed else set()
    return {
        "everyone": "everyone" in parse and bool(re.search(r"@(everyone|here)", content)),
        "users": [u for u in re.findall(r"<@!?(\d+)>", content) if "users" in parse or u in users],
        "roles": [r for r in re.findall(r"<@&(\d+)>", content) if "roles" in parse or r in roles],
    }


@dataclass
class Recorded:
    """One REST call as the stand-in saw it and answered it."""

    at: float
    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    response: Any = None


@dataclass
class InteractionRecord:
    """An interaction the stand-in created, and everything the bot did with it."""

    id: str
    token: str
    payload: dict[str, Any]
    created: float
    acked_at: float | None = None
    ack_type: int | None = None
    ack_flags: int = 0
    original: dict[str, Any] | None = None
    followups: list[dict[str, Any]] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    answered_at: float | None = None

    def expire(self) -> None:
        """Let the acknowledgement window pass now, as if the bot had waited too long."""
        self.created = -math.inf

    @property
    def ack_latency(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.created

    @property
    def answer_latency(self) -> float | None:
        """From INTERACTION_CREATE to the first visible message (not the "thinking" placeholder)."""
        return None if self.answered_at is None else self.answered_at - self.created

    def _answered(self) -> None:
        if self.answered_at is None:
            self.answered_at = time.monotonic()

    @property
    def replies(self) -> list[dict[str, Any]]:
        """Visible messages the interaction produced: the original once it has content, then follow-ups."""
        first = [self.original] if self.original and not self.original["flags"] & LOADING else []
        return first + self.followups


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    compress: bool
    compressor: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class DiscordStandIn:
    """One guild, one text channel (plus an ask channel), one bot user, one human; loopback only."""

    def __init__(
        self,
        *,
        token: str = "standin-token",
        heartbeat_interval_ms: int = 41250,
        ack_window: float = ACK_WINDOW,
        reject_gateway_token: bool = False,
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_window = ack_window
        self.reject_gateway_token = reject_gateway_token
        self.ids = _Ids()
        self.application_id = self.ids.next()
        self.guild_id = self.ids.next()
        self.channel_id = self.ids.next()
        self.ask_channel_id = self.ids.next()
        self.bot_user = self._user(self.application_id, "citebot", bot=True)
        self.human = self._user(self.ids.next(), "asker")
        self.requests: list[Recorded] = []
        self.gateway_sent: list[dict[str, Any]] = []
        self.gateway_received: list[dict[str, Any]] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.commands: list[dict[str, Any]] = []
        self.threads: dict[str, dict[str, Any]] = {}
        self.identifies = 0
        self.resumes = 0
        self._faults: list[_Fault] = []
        self._changed = asyncio.Condition()
        self._connection: _Connection | None = None
        self._session_id: str | None = None
        self._seq = 0
        self._events: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- payload factories -----------------------------------------------------------------------

    @staticmethod
    def _user(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": name,
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "flags": 0,
            "public_flags": 0,
        }

    def _member(self, user: dict[str, Any], permissions: int = 0) -> dict[str, Any]:
        return {
            "user": user,
            "roles": [],
            "flags": 0,
            "joined_at": _now_iso(),
            "deaf": False,
            "mute": False,
            "nick": None,
            "permissions": str(permissions),
        }

    def _channel(self, channel_id: str, name: str, position: int) -> dict[str, Any]:
        return {
            "id": channel_id,
            "type": 0,
            "name": name,
            "position": position,
            "guild_id": self.guild_id,
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
        }

    def guild_payload(self) -> dict[str, Any]:
        return {
            "id": self.guild_id,
            "name": "Stand-in guild",
            "icon": None,
            "owner_id": self.human["id"],
            "region": "europe",
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "system_channel_flags": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [
                {
                    "id": self.guild_id,
                    "name": "@everyone",
                    "permissions": str(1 << 10 | 1 << 11 | 1 << 16),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "channels": [
                self._channel(self.channel_id, "general", 0),
                self._channel(self.ask_channel_id, "ask-citebot", 1),
            ],
            "threads": list(self.threads.values()),
            "members": [self._member(self.bot_user), self._member(self.human)],
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "joined_at": _now_iso(),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _message(
        self, channel_id: str, author: dict[str, Any], body: dict[str, Any], *, flags: int = 0, **extra: Any
    ) -> dict[str, Any]:
        message = {
            "id": self.ids.next(),
            "channel_id": channel_id,
            "guild_id": self.guild_id,
            "type": 19 if body.get("message_reference") else 0,
            "content": body.get("content") or "",
            "author": author,
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": flags | int(body.get("flags") or 0),
            "allowed_mentions": body.get("allowed_mentions"),
            "pinged": pinged(body),
        }
        if body.get("message_reference"):
            message["message_reference"] = body["message_reference"]
        message.update(extra)
        return message

    # ---- recording & faults ----------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every recorded change); return its value."""
        result: list[Any] = []

        def check() -> bool:
            value = predicate()
            if value:
                result.append(value)
            return bool(value)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(check), timeout)
        return result[-1]

    def inject_fault(
        self, method: str, path_pattern: str, *, status: int = 429, retry_after: float = 0.2, times: int = 1
    ) -> None:
        """The next ``times`` matching calls fail; a 429 carries ``Via`` and a JSON ``retry_after``."""
        body: dict[str, Any] = {"message": "Injected failure.", "code": 0}
        headers: dict[str, str] = {}
        if status == 429:
            body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(int(retry_after) + 1),
                "X-RateLimit-Scope": "user",
            }
        self._faults.append(_Fault(method, re.compile(path_pattern), status, body, headers, times))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)  # type: ignore[no-any-return]
        body: Any = None
        raw = await request.read()
        if raw:
            if request.headers.get("Content-Type") != "application/json":
                response: web.StreamResponse = _error(400, 50109, "The request body contains invalid JSON.")
                return await self._record(request, None, response)
            body = json.loads(raw)
        for fault in self._faults:
            if fault.times > 0 and fault.method == request.method and fault.path.search(request.path):
                fault.times -= 1
                response = json_response(fault.body, status=fault.status, headers=fault.headers)
                return await self._record(request, body, response)
        request[_BODY] = body
        response = await handler(request)
        return await self._record(request, body, response)

    async def _record(self, request: web.Request, body: Any, response: web.StreamResponse) -> web.StreamResponse:
        answered = None
        if isinstance(response, web.Response) and response.body:
            answered = json.loads(response.body)  # type: ignore[arg-type]
        self.requests.append(
            Recorded(
                time.monotonic(),
                request.method,
                request.path,
                dict(request.query),
                body,
                response.status,
                answered,
            )
        )
        await self._notify()
        return response

    # ---- gateway ---------------------------------------------------------------------------------

    async def _send(self, connection: _Connection, payload: dict[str, Any]) -> None:
        data = json.dumps(payload)
        async with connection.lock:
            if connection.ws.closed:
                return
            self.gateway_sent.append(payload)
            if connection.compress:
                await connection.ws.send_bytes(
                    connection.compressor.compress(data.encode()) + connection.compressor.flush(zlib.Z_SYNC_FLUSH)
                )
            else:
                await connection.ws.send_str(data)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH now, or keep it for the RESUME replay if the socket is down."""
        self._seq += 1
        payload = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._events.append(payload)
        if self._connection is not None:
            await self._send(self._connection, payload)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress") == "zlib-stream"
        connection = _Connection(ws, compress, zlib.compressobj() if compress else None)
        await self._send(connection, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            self.gateway_received.append(payload)
            await self._on_gateway_payload(connection, payload)
            await self._notify()
        if self._connection is connection:
            self._connection = None
        await self._notify()
        return ws

    async def _on_gateway_payload(self, connection: _Connection, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            await self._send(connection, {"op": 11})
        elif op == 2:
            if data.get("token") != self.token or self.reject_gateway_token:
                await connection.ws.close(code=4004, message=b"Authentication failed.")
                return
            self.identifies += 1
            self._session_id = secrets.token_hex(16)
            self._seq, self._events = 0, []
            self._connection = connection
            await self.dispatch(
                "READY",
                {
                    "v": 10,
                    "user": self.bot_user,
                    "guilds": [{"id": self.guild_id, "unavailable": True}],
                    "session_id": self._session_id,
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": self.application_id, "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                },
            )
            await self.dispatch("GUILD_CREATE", self.guild_payload())
        elif op == 6:
            if data.get("token") != self.token:
                await connection.ws.close(code=4004, message=b"Authentication failed.")
            elif data.get("session_id") != self._session_id:
                await self._send(connection, {"op": 9, "d": False})
            else:
                self.resumes += 1
                self._connection = connection
                for event in self._events:
                    if event["s"] > int(data.get("seq") or 0):
                        await self._send(connection, event)
                await self.dispatch("RESUMED", {})

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close the bot's socket with a resumable code; events sent meanwhile are replayed on RESUME."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.ws.close(code=code, message=b"Dropped by the stand-in.")

    async def send_op(self, op: int, data: Any = None) -> None:
        """Send RECONNECT (7) or INVALID_SESSION (9) and the like on the live socket."""
        if self._connection is not None:
            await self._send(self._connection, {"op": op, "d": data})

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: self._connection is not None, timeout)

    # ---- REST ------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        method = request.method
        body = request.get(_BODY)
        for pattern, verb, handler, needs_auth in self._routes:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                if needs_auth and not self._authorized(request):
                    return _error(401, 0, "401: Unauthorized")
                return await handler(self, request, body, *match.groups())
        return _error(404, 0, f"404: Not Found ({method} {path})")

    async def _get_me(self, request: web.Request, body: Any) -> web.Response:
        return json_response(self.bot_user)

    async def _get_application(self, request: web.Request, body: Any) -> web.Response:
        return json_response(
            {
                "id": self.application_id,
                "name": "citebot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.human,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "team": None,
            }
        )

    async def _get_gateway(self, request: web.Request, body: Any) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _put_commands(
        self, request: web.Request, body: Any, app_id: str, guild_id: str | None = None
    ) -> web.Response:
        if app_id != self.application_id or not isinstance(body, list):
            return _error(400, 50035, "Invalid Form Body")
        commands = []
        for command in body:
            if not re.fullmatch(r"[-_\w]{1,32}", command.get("name", "")) or len(command.get("description", "")) > 100:
                return _error(400, 50035, "Invalid Form Body", {"name": command.get("name")})
            commands.append(
                {
                    "id": self.ids.next(),
                    "application_id": app_id,
                    "version": self.ids.next(),
                    "type": 1,
                    "options": [],
                    "default_member_permissions": None,
                    "nsfw": False,
                    **command,
                    # What Discord fills in for a command that leaves them unset.
                    "contexts": command.get("contexts") or [0, 1, 2],
                    "integration_types": command.get("integration_types") or [0],
                    **({"guild_id": guild_id} if guild_id else {}),
                }
            )
            permissions = commands[-1]["default_member_permissions"]
            commands[-1]["default_member_permissions"] = None if permissions is None else str(permissions)
        self.commands = commands
        return json_response(commands)

    async def _put_guild_commands(self, request: web.Request, body: Any, app_id: str, guild_id: str) -> web.Response:
        return await self._put_commands(request, body, app_id, guild_id)

    async def _get_commands(self, request: web.Request, body: Any, app_id: str) -> web.Response:
        return json_response(self.commands)

    def _check_message(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return _error(400, 50035, "Invalid Form Body")
        if is_empty_message(body):
            return _error(400, 50006, "Cannot send an empty message")
        problems = message_problems(body)
        if problems:
            return _error(400, 50035, "Invalid Form Body", {"problems": problems})
        return None

    async def _post_message(self, request: web.Request, body: Any, channel_id: str) -> web.Response:
        if channel_id not in (self.channel_id, self.ask_channel_id) and channel_id not in self.threads:
            return _error(404, 10003, "Unknown Channel")
        refused = self._check_message(body)
        if refused:
            return refused
        reference = body.get("message_reference")
        if (
            reference
            and str(reference.get("message_id")) not in self.messages
            and reference.get("fail_if_not_exists", True)
        ):
            return _error(400, 50035, "Invalid Form Body", {"message_reference": "Unknown message"})
        message = self._message(channel_id, self.bot_user, body)
        self.messages[message["id"]] = message
        await self.dispatch("MESSAGE_CREATE", message)
        return json_response(message)

    async def _get_message(self, request: web.Request, body: Any, channel_id: str, message_id: str) -> web.Response:
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        return json_response(message)

    async def _edit_message(self, request: web.Request, body: Any, channel_id: str, message_id: str) -> web.Response:
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        merged = {**message, **body}
        refused = self._check_message(merged)
        if refused:
            return refused
        message.update(body, edited_timestamp=_now_iso())
        return json_response(message)

    async def _delete_message(self, request: web.Request, body: Any, channel_id: str, message_id: str) -> web.Response:
        if self.messages.pop(message_id, None) is None:
            return _error(404, 10008, "Unknown Message")
        return web.Response(status=204)

    async def _no_content(self, request: web.Request, body: Any, *ids: str) -> web.Response:
        return web.Response(status=204)

    async def _start_thread(self, request: web.Request, body: Any, channel_id: str, message_id: str) -> web.Response:
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        if message_id in self.threads:
            return _error(400, 160004, "A thread has already been created for this message")
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            return _error(400, 50035, "Invalid Form Body", {"name": "Must be between 1 and 100 in length."})
        thread = {
            "id": message_id,
            "type": 11,
            "guild_id": self.guild_id,
            "parent_id": channel_id,
            "owner_id": self.bot_user["id"],
            "name": name,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration") or 1440),
                "archive_timestamp": _now_iso(),
                "locked": False,
            },
            "flags": 0,
        }
        self.threads[message_id] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_response(thread)

    def _interaction_by_token(self, token: str) -> InteractionRecord | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def _callback(self, request: web.Request, body: Any, interaction_id: str, token: str) -> web.Response:
        record = self.interactions.get(interaction_id)
        if record is None or record.token != token:
            return _error(404, 10062, "Unknown interaction")
        if record.acked_at is not None:
            record.errors.append(40060)
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - record.created > self.ack_window:
            record.errors.append(10062)
            return _error(404, 10062, "Unknown interaction")
        kind = body.get("type")
        data = body.get("data") or {}
        if kind in (4, 7):
            refused = self._check_message(data)
            if refused:
                return refused
        record.acked_at, record.ack_type = time.monotonic(), kind
        record.ack_flags = int(data.get("flags") or 0)
        resource: dict[str, Any] | None = None
        if kind in (4, 7):
            record._answered()
        if kind in (4, 5):
            flags = LOADING if kind == 5 else 0
            message = self._message(record.payload["channel_id"], self.bot_user, data, flags=flags)
            record.original = message
            self.messages[message["id"]] = message
            resource = {"type": kind, "message": message}
        elif kind == 7:
            source = self.messages[record.payload["message"]["id"]]
            source.update(data, edited_timestamp=_now_iso())
            resource = {"type": kind, "message": source}
        interaction = {
            "id": interaction_id,
            "type": record.payload["type"],
            "response_message_id": record.original["id"] if record.original else None,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(record.ack_flags & EPHEMERAL),
        }
        if request.query.get("with_response") in ("1", "true"):
            return json_response({"interaction": interaction, **({"resource": resource} if resource else {})})
        return web.Response(status=204)

    async def _followup(self, request: web.Request, body: Any, app_id: str, token: str) -> web.Response:
        record = self._interaction_by_token(token)
        if record is None or app_id != self.application_id or record.acked_at is None:
            return _error(404, 10015, "Unknown Webhook")
        refused = self._check_message(body)
        if refused:
            return refused
        if record.original is not None and record.original["flags"] & LOADING and record.ack_type == 5:
            # Discord turns the "thinking" message into the first follow-up, keeping its visibility.
            flags = record.ack_flags & EPHEMERAL
            replaced = self._message(record.original["channel_id"], self.bot_user, body, flags=flags)
            record.original.update({**replaced, "id": record.original["id"]})
            record._answered()
            await self._notify()
            return json_response(record.original)
        message = self._message(record.payload["channel_id"], self.bot_user, body)
        self.messages[message["id"]] = message
        record.followups.append(message)
        record._answered()
        return json_response(message)

    async def _original(self, request: web.Request, body: Any, app_id: str, token: str, which: str) -> web.Response:
        record = self._interaction_by_token(token)
        if record is None or app_id != self.application_id:
            return _error(404, 10015, "Unknown Webhook")
        if which == "@original":
            message = record.original
        else:
            message = next((m for m in record.followups if m["id"] == which), None)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return json_response(message)
        if request.method == "DELETE":
            self.messages.pop(message["id"], None)
            return web.Response(status=204)
        refused = self._check_message({**message, **body})
        if refused:
            return refused
        message.update(body, edited_timestamp=_now_iso(), pinged=pinged(body))
        message["flags"] = message["flags"] & ~LOADING
        record._answered()
        return json_response(message)

    _routes: ClassVar[list[tuple[str, str, Callable[..., Any], bool]]] = [
        (r"/users/@me", "GET", _get_me, True),
        (r"/oauth2/applications/@me", "GET", _get_application, True),
        (r"/gateway", "GET", _get_gateway, False),
        (r"/gateway/bot", "GET", _get_gateway, True),
        (r"/applications/(\d+)/commands", "PUT", _put_commands, True),
        (r"/applications/(\d+)/commands", "GET", _get_commands, True),
        (r"/applications/(\d+)/guilds/(\d+)/commands", "PUT", _put_guild_commands, True),
        (r"/channels/(\d+)/messages", "POST", _post_message, True),
        (r"/channels/(\d+)/messages/(\d+)", "GET", _get_message, True),
        (r"/channels/(\d+)/messages/(\d+)", "PATCH", _edit_message, True),
        (r"/channels/(\d+)/messages/(\d+)", "DELETE", _delete_message, True),
        (r"/channels/(\d+)/typing", "POST", _no_content, True),
        (r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", "PUT", _no_content, True),
        (r"/channels/(\d+)/messages/(\d+)/threads", "POST", _start_thread, True),
        (r"/interactions/(\d+)/([^/]+)/callback", "POST", _callback, False),
        (r"/webhooks/(\d+)/([^/]+)", "POST", _followup, False),
        (r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", "GET", _original, False),
        (r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", "PATCH", _original, False),
        (r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", "DELETE", _original, False),
    ]

    # ---- helpers for tests -----------------------------------------------------------------------

    def user(self, name: str) -> dict[str, Any]:
        """A new human member of the guild (distinct ids avoid per-user cooldowns in tests)."""
        return self._user(self.ids.next(), name)

    async def send_message(
        self,
        content: str,
        *,
        channel_id: str | None = None,
        author: dict[str, Any] | None = None,
        mention_bot: bool = False,
    ) -> dict[str, Any]:
        """A human posts in a channel: MESSAGE_CREATE, with the bot mention first if asked."""
        author = author or self.human
        text = f"<@{self.bot_user['id']}> {content}".rstrip() if mention_bot else content
        message = self._message(channel_id or self.channel_id, author, {"content": text})
        message["member"] = {k: v for k, v in self._member(author).items() if k != "user"}
        if mention_bot:
            message["mentions"] = [self.bot_user]
        self.messages[message["id"]] = message
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def replies_to(self, message_id: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.values()
            if str((m.get("message_reference") or {}).get("message_id")) == message_id
            and m["author"]["id"] == self.bot_user["id"]
        ]

    def bot_messages_in(self, channel_id: str) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.values()
            if m["channel_id"] == channel_id and m["author"]["id"] == self.bot_user["id"]
        ]

    async def wait_reply(self, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        replies = await self.wait_for(lambda: self.replies_to(message["id"]), timeout)
        return replies[0]  # type: ignore[no-any-return]

    def _interaction(
        self, kind: int, data: dict[str, Any], user: dict[str, Any], channel_id: str, permissions: int
    ) -> InteractionRecord:
        interaction_id = self.ids.next()
        token = "itoken-" + secrets.token_urlsafe(24)
        payload = {
            "id": interaction_id,
            "application_id": self.application_id,
            "type": kind,
            "data": data,
            "guild_id": self.guild_id,
            "channel_id": channel_id,
            "channel": {
                "id": channel_id,
                "type": 11 if channel_id in self.threads else 0,
                "guild_id": self.guild_id,
            },
            "member": self._member(user, permissions),
            "token": token,
            "version": 1,
            "locale": "en-US",
            "guild_locale": "en-US",
            "app_permissions": str((1 << 53) - 1),
            "entitlements": [],
            "authorizing_integration_owners": {"0": self.guild_id},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        return InteractionRecord(interaction_id, token, payload, time.monotonic())

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: dict[str, Any] | None = None,
        channel_id: str | None = None,
        permissions: int = 0,
    ) -> InteractionRecord:
        """A member runs a slash command the bot synced: INTERACTION_CREATE type 2."""
        command = next((c for c in self.commands if c["name"] == name), None)
        if command is None:
            raise AssertionError(f"/{name} was never synced; synced: {[c['name'] for c in self.commands]}")
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": [
                {"name": k, "type": 3 if isinstance(v, str) else 4, "value": v} for k, v in (options or {}).items()
            ],
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        record = self._interaction(2, data, user or self.human, channel_id or self.channel_id, permissions)
        return await self._deliver(record)

    async def click(
        self, message: dict[str, Any], custom_id: str, *, user: dict[str, Any] | None = None
    ) -> InteractionRecord:
        """A member clicks a button under ``message``: INTERACTION_CREATE type 3."""
        ids = [c.get("custom_id") for row in message.get("components") or [] for c in row.get("components") or []]
        if custom_id not in ids:
            raise AssertionError(f"no button {custom_id!r} under the message; buttons: {ids}")
        data = {"custom_id": custom_id, "component_type": 2}
        record = self._interaction(3, data, user or self.human, message["channel_id"], 0)
        record.payload["message"] = message
        return await self._deliver(record)

    async def _deliver(self, record: InteractionRecord) -> InteractionRecord:
        self.interactions[record.id] = record
        record.created = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", record.payload)
        return record

    async def wait_answered(self, record: InteractionRecord, timeout: float = 30.0) -> dict[str, Any]:
        """The first visible message the interaction produced (after any deferral)."""
        replies = await self.wait_for(lambda: record.replies or record.errors, timeout)
        if record.errors and not record.replies:
            raise AssertionError(f"interaction failed with Discord error codes {record.errors}")
        return replies[0]  # type: ignore[no-any-return]

    def refused(self) -> list[Recorded]:
        """REST calls the stand-in refused, injected faults aside: each one is a bot bug."""
        return [
            r
            for r in self.requests
            if r.status >= 400
            and not (
                isinstance(r.response, dict)
                and r.response.get("message") in ("Injected failure.", "You are being rate limited.")
            )
        ]
