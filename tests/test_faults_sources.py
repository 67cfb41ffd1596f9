"""Hostile articles and feeds, after ``test_faults.py`` (issue 16): a YAML alias bomb, titles that carry
terminal escapes, feed dates that name no day, redirect loops, stray library warnings, `ask --json` errors
and IPv6 forms that carry a loopback address. Pages and feeds are served from 127.0.0.1 by a server that
stops with the module. Each test failed before the fix it names."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.chat.replies import public_message
from bot.cli import main
from bot.engine import Engine
from bot.errors import PrivateAddressError, SourceError
from bot.ingest.documents import split_front_matter
from bot.ingest.download import check_public, download
from bot.ingest.feeds import parse_feed
from tests.conftest import ROOT
from tests.test_feeds import article_page

SENTENCES = "Aid convoys reached the besieged town of Tarhuna on Monday after weeks of fighting. " * 4
ESCAPES = "\x1b]0;PWNED\x07\x1b[31mRED"
FEED_ESCAPES = "&#27;]0;PWNED&#7;&#27;[31mRED"
ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {}
FEED_ENTRIES: list[int] = [41]
LIBRARIES = ("pypdf", "trafilatura", "htmldate", "courlan", "justext")


def atom(title: str, entries: str) -> bytes:
    return f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title>{entries}</feed>'.encode()


def atom_entry(title: str, link: str, updated: str = "2024-03-05T09:30:00Z", published: str = "") -> str:
    when = f"<updated>{updated}</updated>" + (f"<published>{published}</published>" if published else "")
    return f'<entry><title>{title}</title><link href="{link}"/>{when}</entry>'


class Hostile(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.split("?")[0] == "/hostile.xml":
            entries = "".join(atom_entry(f"{FEED_ESCAPES}Story {n}", f"{base}/story/{n}") for n in FEED_ENTRIES)
            status, headers, body = 200, {"Content-Type": "application/atom+xml"}, atom(f"{FEED_ESCAPES} News", entries)
        elif self.path.startswith("/story/"):
            status, headers = 200, {"Content-Type": "text/html; charset=utf-8"}
            body = article_page(int(self.path.rsplit("/", 1)[1]))
        else:
            status, headers, body = ROUTES.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    ROUTES.update(
        {
            "/loop": (302, {"Location": f"{base}/loop"}, b""),
            "/packed": (200, {"Content-Type": "text/html"}, gzip.compress(os.urandom(4096))),
            "/skips.xml": (
                200,
                {"Content-Type": "application/atom+xml"},
                atom("Skips", atom_entry("Gone", f"{base}/gone") + atom_entry("Story 43", f"{base}/story/43")),
            ),
        }
    )
    yield base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cli(hashing_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """`citebot` in this process, building with the hashing embedder and allowed to reach 127.0.0.1; the
    folder options to give it. The library log levels `citebot` sets are put back afterwards."""
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    monkeypatch.setenv("CITEBOT_ALLOW_PRIVATE_URLS", "1")
    levels = {name: logging.getLogger(name).level for name in LIBRARIES}
    yield ["--documents", str(tmp_path / "documents"), "--index", str(tmp_path / "index")]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def controls(text: str) -> list[str]:
    return [character for character in text if unicodedata.category(character) == "Cc" and character != "\n"]


# 1. Front matter is bounded ----------------------------------------------------------------------------

BOMB_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (768 * 2**20, 768 * 2**20))
from pathlib import Path
from bot.ingest.fetch import read_file
print(repr(read_file(Path(sys.argv[1])).title))
"""


def yaml_bomb() -> str:
    """2.5 KB of front matter whose aliases expand to 9**9 strings: what `str()` of it would build."""
    lines = ["a: &a [" + ", ".join(['"lol"'] * 9) + "]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "---\n" + "\n".join(lines) + "\ntitle: *i\n---\n" + SENTENCES


def test_a_yaml_alias_bomb_in_front_matter_is_refused_at_once(tmp_path: Path) -> None:
    """In a child process capped at 768 MB: before the fix it ran out of memory (1.9 GB at 120 s)."""
    bomb = tmp_path / "yamlbomb.md"
    bomb.write_text(yaml_bomb(), encoding="utf-8")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", BOMB_CHILD, str(bomb)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "'yamlbomb'"  # no title from the front matter: the file's name
    assert time.monotonic() - started < 30


def test_deeply_nested_front_matter_is_refused_quickly_and_only_scalars_are_read() -> None:
    started = time.monotonic()
    metadata, _ = split_front_matter("---\ntitle: " + "[" * 50_000 + "]" * 50_000 + "\n---\n" + SENTENCES)
    assert metadata.title is None and time.monotonic() - started < 5  # 48 s before the fix
    metadata, _ = split_front_matter("---\ntitle: " + "[" * 20 + "x" + "]" * 20 + "\n---\n" + SENTENCES)
    assert metadata.title is None
    metadata, text = split_front_matter("---\ntitle: [Haftar, Wagner]\nauthor: {name: Roe}\ndate: 2020-05-27\n---\nT")
    assert (metadata.title, metadata.author, metadata.date, text) == (None, None, "2020-05-27", "T")


# 3. Titles cannot drive the terminal ---------------------------------------------------------------------


def test_titles_from_articles_and_feeds_cannot_drive_the_terminal(web: str, cli: list[str], tmp_path: Path) -> None:
    article = tmp_path / "evil.md"
    article.write_text('---\ntitle: "\\e]0;PWNED\\a\\e[31mRED"\n---\n' + SENTENCES, encoding="utf-8")
    assert split_front_matter(article.read_text(encoding="utf-8"))[0].title == ESCAPES
    FEED_ENTRIES[:] = [41]
    runner = CliRunner()
    results = {"add": runner.invoke(main, ["add", str(article), *cli])}
    results["follow"] = runner.invoke(main, ["follow", f"{web}/hostile.xml", *cli])
    FEED_ENTRIES.insert(0, 42)
    results["update"] = runner.invoke(main, ["update", *cli])
    results["feeds"] = runner.invoke(main, ["feeds", *cli])
    for command, result in results.items():
        assert result.exit_code == 0, (command, result.output)
        assert controls(result.stdout) == [] and "PWNED" not in result.stdout, (command, result.stdout)
        assert "RED" in result.stdout, command
    assert "RED News" in results["feeds"].stdout and "REDStory 42" in results["update"].stdout


# 11. A feed date that names no day ----------------------------------------------------------------------


def test_an_invalid_feed_date_is_no_date() -> None:
    entries = (
        atom_entry("Month 13", "http://example.org/a", updated="2024-13-45T00:00:00Z")
        + atom_entry("February 30", "http://example.org/b", updated="2024-02-30")
        + atom_entry("Bad published", "http://example.org/c", published="2024-00-10T00:00:00Z")
        + atom_entry("Fine", "http://example.org/d", updated="2024-03-05T10:00:00+01:00")
    )
    parsed = parse_feed(atom("Dates", entries), "http://example.org/feed.xml")
    assert [(entry.title, entry.date) for entry in parsed.entries] == [
        ("Month 13", None),
        ("February 30", None),
        ("Bad published", "2024-03-05"),  # its updated date, which is a real day
        ("Fine", "2024-03-05"),
    ]


# 12. `ask --json` errors are JSON on stdout ---------------------------------------------------------------


def test_ask_json_prints_every_error_as_a_json_line_on_stdout(
    fake_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = CliRunner().invoke(
        main, ["ask", "--json", "who?", "--documents", str(tmp_path / "none"), "--index", str(tmp_path / "index")]
    )
    monkeypatch.setattr("bot.cli.commands.open_engine", lambda settings: fake_engine)
    empty = CliRunner().invoke(main, ["ask", "--json", ""])
    for result, question in ((empty, ""), (missing, "who?")):
        assert result.exit_code == 1
        [line] = result.stdout.splitlines()
        record = json.loads(line)
        assert record["question"] == question and record["answered"] is False and record["citations"] == []
        assert result.stderr.strip() == f"citebot: {record['error']}"


# 13. A redirect loop is one line -----------------------------------------------------------------------


def test_a_redirect_loop_is_one_line_in_the_cli_and_in_discord(web: str, cli: list[str]) -> None:
    with pytest.raises(SourceError) as looped:
        download(f"{web}/loop", max_bytes=1 << 20, allow_private=True)
    assert str(looped.value) == f"{web}/loop redirects in a loop or too many times. Check the address."
    assert len(public_message(looped.value).splitlines()) == 1
    result = CliRunner().invoke(main, ["add", f"{web}/loop", *cli])
    assert result.exit_code == 1 and result.stderr.splitlines() == [f"citebot: {looped.value}"]


# 15. Library warnings stay quiet without -v ----------------------------------------------------------------


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]


def test_library_warnings_stay_quiet_and_citebot_says_what_it_did(
    web: str, cli: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "good.txt").write_text(SENTENCES, encoding="utf-8")
    (documents / "blob.pdf").write_bytes(b"not a PDF at all, " * 40)
    runner = CliRunner()
    with caplog.at_level(logging.INFO):
        indexed = runner.invoke(main, ["index", *cli])
    assert indexed.exit_code == 0, indexed.output
    logged = warnings_logged(caplog)
    assert any(line.startswith("bot.") and "Skipped blob.pdf" in line for line in logged), logged
    assert [line for line in logged if not line.startswith("bot.")] == []
    caplog.clear()
    with caplog.at_level(logging.INFO):
        packed = runner.invoke(main, ["add", f"{web}/packed", *cli])
        followed = runner.invoke(main, ["follow", f"{web}/skips.xml", *cli])
    assert packed.exit_code == 1 and "Found no article text" in packed.stderr
    assert followed.exit_code == 0 and "Skips: 1 new, 1 skipped (see -v)" in followed.stdout
    logged = warnings_logged(caplog)
    assert [line for line in logged if not line.startswith("bot.") or "/gone" in line] == []
    assert any("Skipped" in r.getMessage() and "/gone" in r.getMessage() for r in caplog.records), "-v shows it"


# IPv6 forms that carry a loopback address ------------------------------------------------------------------


@pytest.mark.parametrize("address", ["::7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::", "::ffff:0:7f00:1", "64:ff9b:1::1"])
def test_ipv6_forms_that_carry_a_loopback_address_are_refused(address: str) -> None:
    with pytest.raises(PrivateAddressError, match="loopback, private or link-local"):
        check_public("evil.example", address)


def test_ipv6_forms_that_carry_a_public_address_are_fetched() -> None:
    for address in ("64:ff9b::808:808", "2002:808:808::", "::ffff:8.8.8.8", "2606:4700::1111"):
        check_public("example.org", address)
