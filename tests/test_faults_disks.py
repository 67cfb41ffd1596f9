"""Broken disks and damaged files, after ``test_faults.py`` (issue 16): a full disk while `add` writes an
article or a build writes vectors, a damaged, read-only or full feeds database, a damaged or locked
feedback database, a read-only index folder. A full disk is the kernel's ENOSPC (from /dev/full, or a
write that stops short) or SQLite's own SQLITE_FULL; read-only is real permissions, checked by the
kernel. Each test failed before the fix it names."""

from __future__ import annotations

import builtins
import contextlib
import errno
import functools
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import bot.store.vectors as vectors
from bot.cli import main
from bot.engine import Engine
from bot.feedback import FeedbackStore
from bot.gaps import record_gap
from bot.ingest.feeds import FeedStore, update_feeds
from bot.pipeline import build_index
from bot.settings import Settings
from bot.store.schema import current_build
from tests.conftest import ROOT, SHIPPED_DOCUMENTS, make_settings
from tests.fakes import FAKE_MODEL, HashingEmbedder
from tests.test_faults_sources import Hostile

ARTICLE = "Aid convoys reached the besieged town of Tarhuna on Monday after weeks of fighting.\n"
NOW = datetime(2024, 3, 6, tzinfo=UTC)


@pytest.fixture
def fake_index(tmp_path: Path) -> Settings:
    """A fresh fast-tier index of the shipped articles, in this test's own folder."""
    settings = make_settings(tmp_path / "documents", tmp_path / "index", model=FAKE_MODEL, allow_private_urls=True)
    shutil.copytree(SHIPPED_DOCUMENTS, settings.documents)
    build_index(settings, embedder=HashingEmbedder())
    return settings


@pytest.fixture
def cli(fake_index: Settings, hashing_model: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`citebot` in this process over ``fake_index``, building with the hashing embedder; its folder options."""
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    monkeypatch.setenv("CITEBOT_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setattr("bot.pipeline.build_index", functools.partial(build_index, embedder=HashingEmbedder()))
    return ["--documents", str(fake_index.documents), "--index", str(fake_index.index)]


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def one_line(result: Result) -> str:
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    [line] = result.stderr.splitlines()
    return line


# 4. `add` on a full disk --------------------------------------------------------------------------------


@pytest.mark.parametrize("room", [4096, 0])
def test_add_on_a_full_disk_leaves_no_part_of_the_article(
    room: int, cli: list[str], fake_index: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk takes ``room`` more bytes of the documents folder, then refuses as a full one does: a write
    that stops short, then ENOSPC."""
    source = tmp_path / "long.md"
    source.write_text(ARTICLE * 72, encoding="utf-8")  # 6 KB
    before = sorted(path.name for path in fake_index.documents.iterdir())
    write, left = os.write, [room]

    def full_disk(descriptor: int, data: Any) -> int:
        if not os.readlink(f"/proc/self/fd/{descriptor}").startswith(str(fake_index.documents)):
            return write(descriptor, data)
        if not left[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = write(descriptor, bytes(data[: left[0]]))
        left[0] -= written
        return written

    monkeypatch.setattr(os, "write", full_disk)
    line = one_line(CliRunner().invoke(main, ["add", str(source), *cli]))
    assert line.startswith(f"citebot: The disk is full at {fake_index.documents}/long.md;")
    assert "free some space and run `citebot add --documents" in line
    assert sorted(path.name for path in fake_index.documents.iterdir()) == before  # not even a hidden part


# 5. A full disk while a build writes its vectors --------------------------------------------------------


def test_a_full_disk_while_writing_vectors_is_one_line_and_the_old_index_serves(
    cli: list[str], fake_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full, a device every write to fails with ENOSPC")
    before = current_build(fake_index.index)
    (fake_index.documents / "new.txt").write_text(ARTICLE, encoding="utf-8")
    real_open = builtins.open

    def vectors_on_a_full_disk(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        full = str(file).endswith(".faiss") and "w" in mode
        return real_open("/dev/full" if full else file, mode, *args, **kwargs)

    monkeypatch.setattr(vectors, "open", vectors_on_a_full_disk, raising=False)
    line = one_line(CliRunner().invoke(main, ["index", *cli]))
    assert line.startswith(f"citebot: The disk is full at {fake_index.index / 'builds'}/") and ".faiss;" in line
    assert line.endswith("again. The previous index, if any, still serves.")
    assert current_build(fake_index.index) == before


def test_a_full_disk_while_the_store_grows_is_one_line_and_the_old_index_serves(
    cli: list[str], fake_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite says SQLITE_FULL ("database or disk is full") once the store would outgrow its pages."""
    before = current_build(fake_index.index)
    articles = Engine.open(fake_index, HashingEmbedder(), reader=None).info.articles
    (fake_index.documents / "new.txt").write_text(ARTICLE * 50, encoding="utf-8")
    connect = sqlite3.connect

    def small_disk(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(database, *args, **kwargs)
        if Path(database).name.startswith("store-") and not kwargs.get("uri"):
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count = {pages}")
        return connection

    monkeypatch.setattr(sqlite3, "connect", small_disk)
    line = one_line(CliRunner().invoke(main, ["index", *cli]))
    assert line.startswith(f"citebot: The disk is full at {fake_index.index}/store-") and ".sqlite;" in line
    assert line.endswith("again. The previous index, if any, still serves.")
    monkeypatch.undo()
    assert current_build(fake_index.index) == before
    assert Engine.open(fake_index, HashingEmbedder(), reader=None).info.articles == articles


# 6. A damaged, read-only or full feeds database ------------------------------------------------------------


def feeds_database(settings: Settings, *urls: str) -> Path:
    store = FeedStore(settings.index / "feeds.sqlite")
    for url in urls:
        store.add(url, NOW)
    return store.path


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_feeds_database_is_one_line_in_every_feed_command(
    damage: str, cli: list[str], fake_index: Settings
) -> None:
    path = feeds_database(fake_index, *(f"http://127.0.0.1:9/{n}.xml" for n in range(200)))
    if damage == "garbage":
        path.write_bytes(b"garbage " * 512)
    else:
        os.truncate(path, 2 * 4096)
    for command in (["feeds"], ["update"], ["follow", "http://127.0.0.1:9/new.xml"], ["unfollow", "http://x.org/"]):
        line = one_line(CliRunner().invoke(main, [*command, *cli]))
        assert f"The feeds database {path} is damaged" in line and "Move it away and follow the feeds again" in line


def test_a_retry_time_that_cannot_be_read_stops_no_feed(web: str, fake_index: Settings) -> None:
    path = feeds_database(fake_index, f"{web}/hostile.xml?a", f"{web}/hostile.xml?b", f"{web}/hostile.xml?c")
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE feeds SET retry_after = 'not-a-date', failures = 3 WHERE url LIKE '%?b'")
        connection.execute("UPDATE feeds SET retry_after = '2024-03-05T00:00:00', failures = 1 WHERE url LIKE '%?c'")
    results = update_feeds(fake_index, now=NOW)
    assert [(result.url[-1], result.waiting, result.error) for result in results] == [
        ("a", False, None),
        ("b", False, None),
        ("c", False, None),  # a pause written without a time zone, and over
    ]
    assert results[0].added


def test_a_full_disk_when_following_leaves_no_empty_feeds_database(
    cli: list[str], fake_index: Settings, web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite says SQLITE_FULL ("database or disk is full") once the feeds database would outgrow one page."""
    connect = sqlite3.connect

    def small_disk(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(database, *args, **kwargs)
        if str(database).endswith("feeds.sqlite"):
            connection.execute("PRAGMA max_page_count = 1")
        return connection

    monkeypatch.setattr(sqlite3, "connect", small_disk)
    line = one_line(CliRunner().invoke(main, ["follow", f"{web}/hostile.xml", *cli]))
    assert line == f"citebot: The disk is full at {fake_index.index / 'feeds.sqlite'}; free some space and try again."
    assert not (fake_index.index / "feeds.sqlite").exists()


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[list[str]]:
    """``folder`` and all in it without write permission (`chmod -R a-w`), and the command prefix under
    which the kernel holds this process's children to that: none for an ordinary user; for root, dropping
    the capabilities that let root write anywhere."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root writes anywhere; dropping that right needs setpriv")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    modes = {path: path.stat().st_mode for path in (folder, *folder.rglob("*"))}
    for path, mode in modes.items():
        path.chmod(mode & ~0o222)
    try:
        yield prefix
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def citebot(prefix: list[str], *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CITEBOT_MODEL": FAKE_MODEL, "CITEBOT_ALLOW_PRIVATE_URLS": "1"}
    command = [*prefix, sys.executable, "-m", "bot", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=environment)


def one_line_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    return line


def test_a_read_only_feeds_database_is_one_line(web: str, fake_index: Settings) -> None:
    path = feeds_database(fake_index, "http://127.0.0.1:9/gone.xml")
    folders = ["--documents", str(fake_index.documents), "--index", str(fake_index.index)]
    with read_only(fake_index.index) as prefix:
        for command in (["update"], ["follow", f"{web}/hostile.xml"], ["unfollow", "http://127.0.0.1:9/gone.xml"]):
            line = one_line_of(citebot(prefix, *command, *folders))
            assert f"The feeds database {path} cannot be written: it or its folder is read-only" in line, command


# 7. A damaged or locked feedback database ----------------------------------------------------------------


def test_gaps_and_feedback_with_a_damaged_database_are_one_line(cli: list[str], fake_index: Settings) -> None:
    (fake_index.index / "feedback.sqlite").write_bytes(b"garbage " * 512)
    for command in ("gaps", "feedback"):
        line = one_line(CliRunner().invoke(main, [command, "--index", str(fake_index.index)]))
        assert f"The feedback database {fake_index.index / 'feedback.sqlite'} is damaged" in line
        assert "Move it away to start a new one" in line


def test_gaps_and_feedback_with_a_locked_database_are_one_line(
    cli: list[str], fake_index: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.sqlite_files.LOCK_WAIT_SECONDS", 0.2)
    path = FeedbackStore(fake_index.index / "feedback.sqlite").path
    record_gap(fake_index.index, "who won the 2030 world cup?", "cli", None, 0.1)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        for command in ("gaps", "feedback"):
            line = one_line(CliRunner().invoke(main, [command, "--index", str(fake_index.index)]))
            assert line.startswith(f"citebot: The feedback database {path} is locked by another program")
            assert line.endswith("try again when it has finished.")
        holder.execute("ROLLBACK")
    assert "2030 world cup" in CliRunner().invoke(main, ["gaps", "--index", str(fake_index.index)]).stdout


# 10. A read-only index folder ------------------------------------------------------------------------------


def test_a_read_only_index_is_read_and_index_says_it_cannot_write(fake_index: Settings) -> None:
    """Freshly built, so SQLite finds none of the files a reader of a WAL database makes beside it."""
    assert not list(fake_index.index.glob("*-wal")) and not list(fake_index.index.glob("*-shm"))
    (fake_index.documents / "new.txt").write_text(ARTICLE, encoding="utf-8")
    folders = ["--documents", str(fake_index.documents), "--index", str(fake_index.index)]
    with read_only(fake_index.index) as prefix:
        stats = citebot(prefix, "stats", "--index", str(fake_index.index))
        line = one_line_of(citebot(prefix, "index", *folders))
    assert stats.returncode == 0, stats.stderr
    assert f"Articles:     {Engine.open(fake_index, HashingEmbedder(), reader=None).info.articles}\n" in stats.stdout
    assert line.startswith(f"citebot: Permission is denied at {fake_index.index}")
    assert "give this user access to it or choose another folder and run `citebot index --documents" in line
    assert line.endswith("The previous index, if any, still serves.")
