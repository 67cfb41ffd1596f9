"""What a careless or hostile user can do to citebot, done for real: hostile files in the documents
folder, a full or read-only disk, broken input and terminal escapes. Each test failed before the
fix it names; none ends in a traceback, a hang or a leak."""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import unicodedata
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import discord
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from bot.chat.bot import CitebotBot, DiscordUnreachableError, serve
from bot.chat.cogs import library
from bot.chat.cogs.ask import ALREADY_WAITING
from bot.chat.replies import REFUSED
from bot.cli import main
from bot.engine import Engine
from bot.errors import CitebotError, UnreadableDocument
from bot.feedback import FILE_NAME, SALT_FILE_NAME, FeedbackStore, hash_user, installation_salt
from bot.ingest.formats import pdf_text
from bot.library import Library
from bot.models import Answer, Citation, IndexedArticle, Vote
from bot.pipeline import build_index
from bot.render.terminal import BOLD, RESET, render_answer_text, render_json
from bot.settings import ChatSettings, Settings
from bot.store.reading import Store
from bot.store.schema import current_build
from tests.conftest import ROOT, SHIPPED_DOCUMENTS, make_settings
from tests.discord_harness import running_bot, standin_running
from tests.discord_standin import EPHEMERAL, DiscordStandIn
from tests.fakes import FAKE_MODEL, HashingEmbedder
from tests.test_add import PDF_LINES, minimal_pdf

T = TypeVar("T")
MANAGE_GUILD = 1 << 5
OWNER_ONLY = ""
ARTICLE = "Aid convoys reached the besieged town of Tarhuna on Monday after weeks of fighting.\n"


def openssl(cipher: str, key: bytes, data: bytes, iv: bytes | None = None, padded: bool = False) -> bytes:
    command = ["openssl", "enc", f"-aes-{len(key) * 8}-{cipher}", "-K", key.hex()]
    command += ["-iv", iv.hex()] if iv is not None else []
    command += [] if padded else ["-nopad"]
    return subprocess.run(command, input=data, capture_output=True, check=True, timeout=30).stdout


class OpensslAES:
    """pypdf's AES writer interface, backed by the openssl command: the test needs no `cryptography`."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def encrypt(self, data: bytes) -> bytes:
        iv = secrets.token_bytes(16)
        return iv + openssl("cbc", self.key, data, iv, padded=True)


@pytest.fixture(scope="module")
def aes256_pdf() -> bytes:
    """A real AES-256 PDF locked with an owner password only, as pypdf writes it."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to encrypt without the cryptography package")
    import pypdf._encryption as encryption
    from pypdf import PdfReader, PdfWriter

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(encryption, "aes_cbc_encrypt", lambda key, iv, data: openssl("cbc", key, data, iv))
        patch.setattr(encryption, "aes_ecb_encrypt", lambda key, data: openssl("ecb", key, data))
        patch.setattr(encryption, "CryptAES", OpensslAES)
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf("Locked report", PDF_LINES))))
        writer.encrypt(user_password=OWNER_ONLY, owner_password="owner", algorithm="AES-256")
        written = io.BytesIO()
        writer.write(written)
    return written.getvalue()


def encrypted_rc4_pdf(user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf("Locked report", PDF_LINES))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    written = io.BytesIO()
    writer.write(written)
    return written.getvalue()


def has_cryptography() -> bool:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


# One bad file never stops a build ------------------------------------------------------------------


def test_an_owner_locked_aes256_pdf_is_read_or_skipped_with_what_to_do(aes256_pdf: bytes) -> None:
    if has_cryptography():
        text, metadata = pdf_text(aes256_pdf)
        assert "Tarhuna" in text and metadata.title == "Locked report"
    else:
        with pytest.raises(UnreadableDocument, match=r"encrypted PDF.*`cryptography`"):
            pdf_text(aes256_pdf)


def test_an_owner_locked_rc4_pdf_opens_without_a_password() -> None:
    text, _ = pdf_text(encrypted_rc4_pdf(user_password=OWNER_ONLY))
    assert "Tarhuna" in text


def test_a_password_protected_pdf_is_skipped_with_what_to_do() -> None:
    with pytest.raises(UnreadableDocument, match="password-protected PDF; save it without a password"):
        pdf_text(encrypted_rc4_pdf(user_password="secret"))


def test_a_parser_crash_on_one_file_is_that_file_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import trafilatura

    def crash(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(trafilatura, "bare_extraction", crash)
    (tmp_path / "page.html").write_text("<html><body><p>Deeply nested.</p></body></html>", encoding="utf-8")
    (tmp_path / "good.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "bad-date.md").write_text("---\ndate: 2020-13-45\n---\n" + ARTICLE, encoding="utf-8")
    settings = make_settings(tmp_path, tmp_path / ".index", model=FAKE_MODEL)
    skipped = build_index(settings, embedder=HashingEmbedder()).skipped
    assert sorted(a.document for a in Store.open(settings.index).articles()) == ["bad-date.md", "good.txt"]
    assert [(s.document, s.reason) for s in skipped] == [
        ("page.html", "not a readable HTML page (RecursionError: maximum recursion depth exceeded)")
    ]
    assert "page.html" in caplog.text


@pytest.fixture
def hostile_documents(tmp_path: Path, aes256_pdf: bytes) -> Path:
    """Shipped articles plus everything that must not stop or leak out of a build."""
    documents = tmp_path / "documents"
    shutil.copytree(SHIPPED_DOCUMENTS, documents)
    (documents / "locked.pdf").write_bytes(aes256_pdf)
    (documents / "protected.pdf").write_bytes(encrypted_rc4_pdf(user_password="secret"))
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash nologin\n", encoding="utf-8")
    os.symlink(outside, documents / "p.txt")
    os.symlink("/etc/passwd", documents / "passwd.txt")
    os.mkfifo(documents / "pipe.txt")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(documents / "socket.md"))
    (documents / "inside").mkdir()
    os.symlink(documents / "inside-target.txt", documents / "inside" / "link.txt")
    (documents / "inside-target.txt").write_text(ARTICLE, encoding="utf-8")
    return documents


def test_hostile_files_never_stop_a_build_and_nothing_outside_is_read(
    hostile_documents: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(hostile_documents, hostile_documents.parent / "index", model=FAKE_MODEL)
    with caplog.at_level(logging.WARNING):
        report = build_index(settings, embedder=HashingEmbedder())
    engine = Engine.open(settings, HashingEmbedder())
    indexed = {article.document for article in engine.articles()}
    assert {"inside/link.txt", "inside-target.txt"} <= indexed
    assert not indexed & {"p.txt", "passwd.txt", "pipe.txt", "socket.md", "protected.pdf"}
    assert ("locked.pdf" in indexed) == has_cryptography()
    assert all("root:x:0" not in article.text for article in engine.articles())
    for name in ("p.txt", "passwd.txt", "pipe.txt", "socket.md", "protected.pdf"):
        assert f"Skipped {name}" in caplog.text
    assert "outside the documents folder" in caplog.text
    assert "not a regular file" in caplog.text
    assert {s.document for s in report.skipped} >= {"protected.pdf"}


# The command line ------------------------------------------------------------------------------------


@pytest.fixture
def fake_cli(fake_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`citebot` in this process, answering from the fast tier's engine."""
    monkeypatch.setattr("bot.cli.commands.open_engine", lambda settings: fake_engine)
    return CliRunner()


def test_an_invalid_utf8_question_argument_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", b"caf\xe9 \xff?", "--index", str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "citebot: The question is not valid UTF-8 text. Type it again, or set your terminal to UTF-8."
    ]


def test_an_invalid_utf8_line_on_stdin_is_one_json_error_and_the_batch_goes_on(fake_cli: CliRunner) -> None:
    lines = b"who denied the Wagner claims?\n\xff\xfe broken \xc3\n\nwho is Haftar?\n"
    result = fake_cli.invoke(main, ["ask", "--json"], input=lines)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["question"] for record in records] == [
        "who denied the Wagner claims?",
        "\ufffd\ufffd broken \ufffd",
        "who is Haftar?",
    ]
    assert records[1]["error"] == "This line is not valid UTF-8 (byte 0); save it as UTF-8."
    assert "error" not in records[0] and "error" not in records[2]


def test_piped_questions_without_json_are_answered_in_readable_blocks(fake_cli: CliRunner) -> None:
    result = fake_cli.invoke(main, ["ask"], input="who denied the Wagner claims?\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("> who denied the Wagner claims?\n[1] ")


def test_hints_to_run_citebot_index_repeat_the_folders_given(tmp_path: Path) -> None:
    index = tmp_path / "my index"
    result = CliRunner().invoke(main, ["stats", "--index", str(index)])
    assert result.exit_code == 1
    assert f"`citebot index --index '{index}'`" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_group_help_cuts_no_description_short() -> None:
    result = CliRunner().invoke(main, ["--help"])
    commands = result.output.split("Commands:")[1]
    assert result.exit_code == 0 and "..." not in commands
    assert "DISCORD_TOKEN (environment or .env)" in " ".join(result.output.split())


def test_faiss_info_lines_are_quiet_unless_verbose() -> None:
    loader = logging.getLogger("faiss.loader")
    try:
        CliRunner().invoke(main, ["stats", "--help"])
        assert not loader.isEnabledFor(logging.INFO)
        CliRunner().invoke(main, ["-v", "stats", "--help"])
        assert loader.getEffectiveLevel() == logging.getLogger().getEffectiveLevel()
    finally:
        loader.setLevel(logging.NOTSET)


@pytest.fixture
def fake_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh fast-tier index that `citebot index` (in this process) updates with the hashing embedder."""
    settings = make_settings(tmp_path / "documents", tmp_path / "index", model=FAKE_MODEL)
    shutil.copytree(SHIPPED_DOCUMENTS, settings.documents)
    build_index(settings, embedder=HashingEmbedder())
    return settings


def index_with_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """`citebot index` in this process builds with the fast tier's embedder."""
    monkeypatch.setenv("CITEBOT_MODEL", FAKE_MODEL)
    monkeypatch.setattr("bot.pipeline.build_index", functools.partial(build_index, embedder=HashingEmbedder()))


def test_a_full_disk_during_a_build_is_one_line_and_the_old_index_serves(
    fake_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = current_build(fake_index.index)
    articles = Engine.open(fake_index, HashingEmbedder()).info.articles
    (fake_index.documents / "new.txt").write_text(ARTICLE, encoding="utf-8")

    def disk_full(source: object, target: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(os, "replace", disk_full)  # publishing the new build is the last write
    index_with_hashing(monkeypatch)
    options = ["--documents", str(fake_index.documents), "--index", str(fake_index.index)]
    result = CliRunner().invoke(main, ["index", *options])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("citebot: The disk is full at ")
    assert "free some space and run `citebot index --documents" in line and "still serves" in line
    assert current_build(fake_index.index) == before
    assert Engine.open(fake_index, HashingEmbedder()).info.articles == articles


def test_a_file_where_the_index_folder_should_be_is_one_line(
    fake_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_with_hashing(monkeypatch)
    blocker = fake_index.index.parent / "not-a-folder"
    blocker.write_text("a file, not a folder\n", encoding="utf-8")
    options = ["--documents", str(fake_index.documents), "--index", str(blocker / "index")]
    result = CliRunner().invoke(main, ["index", *options])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("citebot: A file stands where a folder should be at ")
    assert f"--index {blocker / 'index'}`" in line


# Terminal --------------------------------------------------------------------------------------------

HOSTILE = "Calm words.\x1b]0;pwned title\x07 Then \x1b[2J\x1b[31mred\x9b1m, a bell\x07 and \x1b]8;;http://x\x1b\\link."


def hostile_answer() -> Answer:
    citation = Citation(
        document="evil\x1b[2J.txt",
        title="Title \x1b]0;owned\x07",
        url=None,
        date=None,
        passage=HOSTILE,
        passage_start=0,
        sentence=HOSTILE[HOSTILE.index("Then") :],
        start=HOSTILE.index("Then"),
        end=len(HOSTILE),
        score=0.9,
    )
    return Answer(question="q", answered=True, citations=(citation,))


@pytest.mark.parametrize("color", [False, True])
def test_article_text_cannot_drive_the_terminal(color: bool) -> None:
    printed = render_answer_text(hostile_answer(), color=color)
    own = printed.replace(BOLD, "").replace(RESET, "")
    assert not [character for character in own if unicodedata.category(character) == "Cc" and character != "\n"]
    assert "pwned title" not in printed and "owned" not in printed
    assert "Calm words." in printed and "red" in printed and "link." in printed


def test_json_output_keeps_article_text_exact() -> None:
    record = json.loads(render_json(hostile_answer()))
    assert record["citations"][0]["passage"] == HOSTILE


# Feedback --------------------------------------------------------------------------------------------


def test_feedback_hashes_use_a_private_salt_made_once_per_installation(tmp_path: Path) -> None:
    first = FeedbackStore(tmp_path / "a" / FILE_NAME)
    salt_file = tmp_path / "a" / SALT_FILE_NAME
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600 and len(salt_file.read_bytes()) == 32
    assert FeedbackStore(tmp_path / "a" / FILE_NAME).hash_user(42) == first.hash_user(42)
    assert FeedbackStore(tmp_path / "b" / FILE_NAME).hash_user(42) != first.hash_user(42)
    public = hashlib.sha256(b"citebot-feedback-v1" + b"42").hexdigest()
    assert first.hash_user(42) != public
    assert hash_user(42, installation_salt(tmp_path / "a" / FILE_NAME)) == first.hash_user(42)
    assert [p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".")] == []


def test_votes_are_records_not_tuples(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / FILE_NAME)
    store.remember_answer("feedfeedfeedfeed", "who?", None, ())
    assert store.record_vote("feedfeedfeedfeed", 7, 1)
    [vote] = store.votes()
    assert isinstance(vote, Vote) and (vote.question, vote.vote, vote.user_hash) == ("who?", 1, store.hash_user(7))


# Discord ---------------------------------------------------------------------------------------------

WAGNER = "who denied the Wagner claims?"


class FailingEngine:
    """The fast tier's engine, except that asking raises ``error``: how a damaged index meets a user."""

    def __init__(self, engine: Engine, error: Exception) -> None:
        self.engine, self.error = engine, error
        self.info, self.embedder = engine.info, engine.embedder

    def ask(self, question: str, context: str | None = None) -> Answer:
        raise self.error

    def articles(self) -> tuple[IndexedArticle, ...]:
        return self.engine.articles()

    def refresh(self) -> bool:
        return False


@pytest.fixture
def bot_settings(tmp_path: Path, fake_settings: Settings) -> Settings:
    """The bot's own files (feedback) in a folder of this test; the engine is the fast tier's."""
    return make_settings(fake_settings.documents, tmp_path / "index", model=FAKE_MODEL)


def run(scenario: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(scenario, 120))


def buttons(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


def test_a_question_is_answered_when_the_feedback_file_cannot_be_written(
    bot_settings: Settings, fake_engine: Engine
) -> None:
    async def scenario() -> dict[str, Any]:
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin) as bot:
            bot.feedback.path.unlink()
            bot.feedback.path.mkdir()  # what sqlite meets: it cannot open the file
            asked = await standin.send_message(WAGNER, mention_bot=True)
            return await standin.wait_reply(asked)

    reply = run(scenario())
    assert reply["embeds"] and buttons(reply) == []


def test_a_thread_that_refuses_the_answer_falls_back_to_the_channel(
    bot_settings: Settings, fake_engine: Engine
) -> None:
    async def scenario() -> tuple[DiscordStandIn, dict[str, Any]]:
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin, reply_in_thread=True):
            standin.inject_fault("POST", rf"/channels/(?!{standin.channel_id})\d+/messages$", status=403)
            asked = await standin.send_message(WAGNER, mention_bot=True)
            return standin, await standin.wait_reply(asked)

    standin, reply = run(scenario())
    assert reply["embeds"] and reply["channel_id"] == standin.channel_id
    assert standin.threads, "the thread was opened; only sending in it failed"


def test_a_question_is_answered_when_the_typing_indicator_fails(bot_settings: Settings, fake_engine: Engine) -> None:
    async def scenario() -> dict[str, Any]:
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin):
            standin.inject_fault("POST", r"/typing$", status=403)
            asked = await standin.send_message(WAGNER, mention_bot=True)
            return await standin.wait_reply(asked)

    assert run(scenario())["embeds"]


def test_a_payload_discord_refuses_becomes_a_short_plain_note(bot_settings: Settings, fake_engine: Engine) -> None:
    async def scenario() -> dict[str, Any]:
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin):
            standin.inject_fault("POST", rf"/channels/{standin.channel_id}/messages$", status=400)
            record = await standin.slash("ask", {"question": WAGNER})
            standin.inject_fault("POST", r"/webhooks/", status=400)
            answered = await standin.wait_answered(record)
            asked = await standin.send_message(WAGNER, mention_bot=True, author=standin.user("other"))
            return answered, await standin.wait_reply(asked)

    slash, mention = run(scenario())
    for reply in (slash, mention):
        assert reply["content"] == REFUSED and reply["embeds"] == []


def test_a_question_inside_the_cooldown_waits_its_turn_and_a_third_is_refused(
    bot_settings: Settings, fake_engine: Engine
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin, cooldown=1.0):
            asker = standin.user("eager")
            asked = [await standin.send_message(q, mention_bot=True, author=asker) for q in (WAGNER, "who?", "why?")]
            return [await standin.wait_reply(message) for message in asked]

    first, second, third = run(scenario())
    assert first["embeds"] or first["content"]
    assert second["embeds"] or "don't cover" in second["content"]
    assert third["content"] == ALREADY_WAITING


def test_more_sources_has_a_cooldown(bot_settings: Settings, fake_engine: Engine) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin, cooldown=60.0):
            answer = await standin.wait_answered(await standin.slash("ask", {"question": WAGNER}))
            more = next(custom_id for custom_id in buttons(answer) if custom_id.startswith("citebot:more:"))
            clicker = standin.user("clicker")
            first = await standin.wait_answered(await standin.click(answer, more, user=clicker))
            again = await standin.wait_answered(await standin.click(answer, more, user=clicker))
            return first, again

    first, again = run(scenario())
    assert first["embeds"]
    assert "you can ask for more sources again in" in again["content"] and again["flags"] & EPHEMERAL


def test_damaged_index_errors_reach_discord_without_server_paths(
    bot_settings: Settings, fake_engine: Engine, tmp_path: Path
) -> None:
    damaged = tmp_path / "srv" / "index"
    (damaged / "builds" / "b1").mkdir(parents=True)
    (damaged / "CURRENT").write_text("b1\n", encoding="utf-8")
    with pytest.raises(CitebotError) as opened:
        Store.open(damaged)
    assert str(tmp_path) in str(opened.value)

    async def scenario() -> dict[str, Any]:
        async with (
            standin_running() as standin,
            running_bot(bot_settings, FailingEngine(fake_engine, opened.value), standin),
        ):
            asked = await standin.send_message(WAGNER, mention_bot=True)
            return await standin.wait_reply(asked)

    reply = run(scenario())
    assert "/" not in reply["content"].replace("/reindex", "") and str(tmp_path) not in reply["content"]
    assert "`/reindex`" in reply["content"]


def test_slash_commands_are_synced_only_when_discord_holds_other_ones(
    bot_settings: Settings, fake_engine: Engine
) -> None:
    def puts(standin: DiscordStandIn) -> int:
        return sum(1 for r in standin.requests if r.method == "PUT" and r.path.endswith("/commands"))

    async def scenario() -> list[int]:
        counts = []
        async with standin_running() as standin:
            for _ in range(2):
                async with running_bot(bot_settings, fake_engine, standin):
                    counts.append(puts(standin))
            standin.commands[0]["description"] = "changed by another copy of the bot"
            async with running_bot(bot_settings, fake_engine, standin):
                counts.append(puts(standin))
        return counts

    assert run(scenario()) == [1, 1, 2]


def test_the_sources_pager_disables_its_buttons_on_timeout(bot_settings: Settings, fake_engine: Engine) -> None:
    async def scenario() -> dict[str, Any]:
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin) as bot:
            # discord.py loads each cog as a module of its own: patch the one the bot runs.
            bot.extensions["bot.chat.cogs.library"].PAGE_TIMEOUT = 0.2  # type: ignore[attr-defined]
            record = await standin.slash("sources")
            shown = await standin.wait_answered(record)
            assert buttons_of(shown) and not all(button["disabled"] for button in buttons_of(shown))
            return await standin.wait_for(
                lambda: record.original if all(c.get("disabled") for c in buttons_of(record.original)) else None
            )

    assert fake_engine.info.articles > library.PER_PAGE, "the shipped articles fill more than one page"
    shown = run(scenario())
    assert [button["label"] for button in buttons_of(shown)] == ["Previous", "Next"]


def buttons_of(message: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [c for row in (message or {}).get("components") or [] for c in row["components"]]


def test_reindex_on_a_full_disk_is_one_line_and_the_old_index_serves(
    fake_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine.open(fake_index, HashingEmbedder())
    articles = engine.info.articles
    (fake_index.documents / "new.txt").write_text(ARTICLE, encoding="utf-8")

    def disk_full(source: object, target: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    async def scenario() -> dict[str, Any]:
        async with standin_running() as standin, running_bot(fake_index, engine, standin):
            monkeypatch.setattr(os, "replace", disk_full)
            record = await standin.slash("reindex", permissions=MANAGE_GUILD)
            return await standin.wait_answered(record, timeout=60)

    report = run(scenario())
    assert report["content"].startswith("The rebuild failed; I keep answering from the previous index. The disk")
    assert "free some space and run `/reindex` again" in report["content"]
    assert str(fake_index.index) not in report["content"]
    engine.refresh()
    assert engine.info.articles == articles


def test_cannot_reach_discord_is_one_clear_error(bot_settings: Settings, fake_engine: Engine) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    chat = ChatSettings(
        discord_api=f"http://127.0.0.1:{port}/api/v10",
        discord_gateway=f"ws://127.0.0.1:{port}/gateway",
        discord_token=SecretStr("token-0123456789"),
        _env_file=None,  # type: ignore[call-arg]
    )
    endpoints = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    try:
        with pytest.raises(DiscordUnreachableError, match=rf"Cannot reach Discord at http://127.0.0.1:{port}/api/v10"):
            run(serve(Library(bot_settings, fake_engine), chat, "token-0123456789"))
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = endpoints


def test_the_bot_says_nothing_about_voice_support(
    bot_settings: Settings, fake_engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True)
    chat = ChatSettings(_env_file=None)  # type: ignore[call-arg]

    async def construct() -> None:
        await CitebotBot(Library(bot_settings, fake_engine), chat).close()

    with caplog.at_level(logging.WARNING):
        run(construct())
    assert "voice will NOT be supported" not in caplog.text


@pytest.mark.slow
def test_citebot_discord_on_a_fresh_clone_builds_the_index_then_says_it_cannot_reach_discord(tmp_path: Path) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    seed = next(SHIPPED_DOCUMENTS.glob("000_*.txt"))
    shutil.copy(seed, documents / seed.name)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "DISCORD_TOKEN": "token-0123456789",
        "CITEBOT_DOCUMENTS": str(documents),
        "CITEBOT_INDEX": str(tmp_path / "index"),
        "CITEBOT_DISCORD_API": f"http://127.0.0.1:{port}/api/v10",
        "CITEBOT_DISCORD_GATEWAY": f"ws://127.0.0.1:{port}/gateway",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "discord"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"There is no index in {tmp_path / 'index'} yet: building it")
    assert lines[-1].startswith(f"citebot: Cannot reach Discord at http://127.0.0.1:{port}/api/v10 (")
    assert "faiss" not in result.stderr.lower() and "voice" not in result.stderr
    assert current_build(tmp_path / "index") is not None
