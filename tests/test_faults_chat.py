"""What a Discord user reads of an error, after ``test_faults.py`` (issue 16): every error type `/add`,
`/follow` and the reindex they start can meet goes through one scrubbing function, so no server path, no
library internals and no shell advice reach the channel. The errors are made by the real code on a
damaged ``srv`` folder; the bot runs against the loopback Discord stand-in. Each test failed before."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from bot.chat.replies import public_message
from bot.engine import Engine
from bot.errors import CitebotError, ModelError, SourceError
from bot.ingest.feeds import FeedStore
from bot.ingest.fetch import Added
from bot.read.reader import Reader
from bot.settings import Settings
from bot.store.schema import SegmentFile
from bot.store.vectors import VectorSet
from tests.conftest import make_settings
from tests.fakes import FAKE_MODEL
from tests.test_faults import MANAGE_GUILD, WAGNER, FailingEngine, run, running_bot, standin_running

READER_FOR_CHAT = "The bot's reading model is damaged; the server's admin can restore it."


def server_errors(srv: Path) -> dict[str, CitebotError | OSError]:
    """One error of each type, as citebot raises it about the damaged files in ``srv``."""
    build = srv / "index" / "builds" / "b1"
    build.mkdir(parents=True)
    (build / "vectors.faiss").write_bytes(b"\0" * 64)
    (srv / "index" / "feeds.sqlite").write_bytes(b"garbage " * 512)
    (srv / "model").mkdir()
    (srv / "model" / "reader.json").write_text('{"calibration": {"scale": 1, "offset": 0}}', encoding="utf-8")
    (srv / "model" / "tokenizer.json").write_text("{", encoding="utf-8")
    with pytest.raises(CitebotError) as vectors:
        VectorSet(build, [SegmentFile("vectors.faiss", 1, False, 64)], ()).segments()
    with pytest.raises(CitebotError) as feeds:
        FeedStore(srv / "index" / "feeds.sqlite")
    with pytest.raises(ModelError, match="git checkout") as reader:
        Reader(srv / "model").check()
    return {
        "named": SourceError(f"Too many articles named 'x' in {srv / 'documents'}. Rename some of them and try again."),
        "full": OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(srv / "documents" / "x.md")),
        "vectors": vectors.value,
        "feeds": feeds.value,
        "reader": reader.value,
    }


@pytest.fixture
def bot_settings(tmp_path: Path, fake_settings: Settings) -> Settings:
    return make_settings(fake_settings.documents, tmp_path / "index", model=FAKE_MODEL, allow_private_urls=True)


def test_every_error_of_add_follow_and_their_reindex_reaches_discord_scrubbed(
    bot_settings: Settings, fake_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = server_errors(tmp_path / "srv")
    failing: list[CitebotError | OSError] = []

    def fail(*args: object, **kwargs: object) -> Any:
        raise failing[0]

    def added(*args: object, **kwargs: object) -> Added:
        return Added(tmp_path / "srv" / "documents" / "story.md", "Story", already_present=False)

    async def replies() -> dict[tuple[str, str], str]:
        got = {}
        async with standin_running() as standin, running_bot(bot_settings, fake_engine, standin):
            for kind, error in errors.items():
                failing[:] = [error]
                for command in ("add", "follow", "reindex"):
                    monkeypatch.setattr("bot.ingest.fetch.add_url", added if command == "reindex" else fail)
                    monkeypatch.setattr("bot.ingest.feeds.follow_feed", fail)
                    monkeypatch.setattr("bot.pipeline.build_index", fail)
                    name = "follow" if command == "follow" else "add"
                    record = await standin.slash(name, {"url": "https://example.org/a"}, permissions=MANAGE_GUILD)
                    got[kind, command] = (await standin.wait_answered(record))["content"]
        return got

    prefixes = {
        "add": "Not added: ",
        "follow": "Not followed: ",
        "reindex": "Added **Story** (undated). Indexing failed; questions use the previous index. ",
    }
    got = run(replies())
    assert len(got) == 15
    for (kind, command), content in got.items():
        where = (kind, command, content)
        assert content.startswith(prefixes[command]), where
        assert content.endswith(public_message(errors[kind], "/reindex" if command == "reindex" else f"/{command}"))
        assert str(tmp_path) not in content and "/srv" not in content and "srv/" not in content, where
        assert "faiss" not in content.lower() and ".cpp" not in content and "git " not in content, where
        assert "``" not in content and "\n" not in content, where
    assert got["reader", "add"] == f"Not added: {READER_FOR_CHAT}"
    assert "free some space and run `/add` again" in got["full", "add"]
    assert "free some space and run `/follow` again" in got["full", "follow"]
    assert "free some space and run `/reindex` again" in got["full", "reindex"]
    assert "named 'x' in `documents`." in got["named", "follow"]


def test_a_damaged_reader_is_one_plain_sentence_for_chat_users_and_the_fix_goes_to_the_log(
    bot_settings: Settings, fake_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = server_errors(tmp_path / "srv")["reader"]
    assert isinstance(damaged, ModelError)

    async def scenario() -> dict[str, Any]:
        async with (
            standin_running() as standin,
            running_bot(bot_settings, FailingEngine(fake_engine, damaged), standin),
        ):
            return await standin.wait_reply(await standin.send_message(WAGNER, mention_bot=True))

    assert run(scenario())["content"] == READER_FOR_CHAT
    assert "git checkout -- bot/read/model" in caplog.text
