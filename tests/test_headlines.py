"""A page's headline is its title, never the start of its first sentence: a page served on 127.0.0.1 and
added with `citebot add`, the same page as a file, and a page saved before this rule."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.ingest.chunk import ChunkingSettings, chunk
from bot.ingest.clean import clean
from bot.ingest.documents import load_article
from bot.ingest.formats import without_headline
from bot.store.reading import Store

HEADLINE = "Village bakery wins national sourdough prize"
FIRST = (
    "The Crumb & Crust bakery in Thornbury has won the national sourdough prize, beating more than two "
    "hundred entries from across the country."
)
SECOND = "Owner Mary Hollis said the win was the result of ten years of patient work on her grandmother's starter."
PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><title>{HEADLINE} | Thornbury News</title>
<meta property="og:title" content="{HEADLINE}"><meta property="article:published_time" content="2024-03-02">
</head><body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>{HEADLINE}</h1><p>{FIRST.replace("&", "&amp;")}</p><p>{SECOND}</p></article>
<footer>Copyright 2024 Thornbury News</footer></body></html>""".encode()


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads what citebot says."""


@pytest.fixture
def page_url() -> Iterator[str]:
    """The page, served on 127.0.0.1 only, until the test ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/bakery.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def folders(tmp_path: Path, hashing_model: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    monkeypatch.setenv("CITEBOT_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.delenv("CITEBOT_MIN_SCORE", raising=False)
    return tmp_path / "documents", tmp_path / "index"


def citebot(folders: tuple[Path, Path], *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--documents", str(folders[0]), "--index", str(folders[1])])
    assert result.exit_code == 0, result.output
    return result.stdout


def sentences(index: Path) -> list[str]:
    store = Store.open(index)
    return [
        sentence.text
        for article in store.articles()
        for passage in chunk(article.text, ChunkingSettings())
        for sentence in passage.sentences
    ]


def test_an_added_page_has_its_headline_as_title_and_quotes_its_first_sentence_alone(
    folders: tuple[Path, Path], page_url: str
) -> None:
    saved = citebot(folders, "add", page_url)
    assert saved.startswith("Saved ") and saved.splitlines()[0].endswith(f": {HEADLINE}")
    [article] = Store.open(folders[1]).articles()
    assert article.title == HEADLINE
    assert article.text.startswith(FIRST)
    assert FIRST in sentences(folders[1])
    record = json.loads(citebot(folders, "ask", "--json", "which bakery won the national sourdough prize?"))
    assert record["answered"] and record["citations"][0]["sentence"] == FIRST

    again = citebot(folders, "add", page_url)
    assert again.startswith("Already present as ") and "nothing changed" in again
    for citation in json.loads(citebot(folders, "ask", "--json", "who is the owner of the bakery?"))["citations"]:
        assert Store.open(folders[1]).articles()[0].text[citation["start"] : citation["end"]] == citation["sentence"]


def test_the_page_as_a_file_reads_the_same_as_added(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    page = tmp_path / "bakery.html"
    page.write_bytes(PAGE)
    added = clean(load_article(page, page.name))
    assert added.title == HEADLINE and added.text.startswith(FIRST)
    saved = citebot(folders, "add", str(page))
    assert saved.startswith("Saved ")
    [markdown] = folders[0].glob("*.md")
    assert clean(load_article(markdown, markdown.name)).text == added.text


def test_a_page_saved_with_its_headline_in_the_text_keeps_it_as_a_paragraph_of_its_own(tmp_path: Path) -> None:
    """As `citebot add` saved pages before: the headline as the first line of the body."""
    saved = tmp_path / "bakery.md"
    saved.write_text(f"---\ntitle: {HEADLINE}\n---\n\n{HEADLINE}\n{FIRST}\n{SECOND}\n", encoding="utf-8")
    article = clean(load_article(saved, saved.name))
    assert article.text.startswith(f"{HEADLINE}\n\n{FIRST}")
    passages = [passage.text for passage in chunk(article.text, ChunkingSettings())]
    assert passages[0] == HEADLINE and not any(passage.startswith(f"{HEADLINE}\n") for passage in passages)
    source, position = load_article(saved, saved.name).text, 0
    for passage in chunk(article.text, ChunkingSettings()):
        found = source.find(passage.text, position)
        assert found >= 0, f"{passage.text!r} is not in the file verbatim, after the passage before it"
        position = found + len(passage.text)


def test_a_headline_that_is_not_the_title_becomes_a_paragraph_of_its_own() -> None:
    text = f"Bakery wins\n{FIRST}\n{SECOND}"
    assert without_headline(text, "Thornbury News", ("Bakery wins",)) == f"Bakery wins\n\n{FIRST}\n{SECOND}"
    assert without_headline(text, "Bakery wins") == f"{FIRST}\n{SECOND}"
    assert without_headline(f"{FIRST}\n{SECOND}", HEADLINE, (HEADLINE,)) == f"{FIRST}\n{SECOND}"
