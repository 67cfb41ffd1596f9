"""`citebot add`: articles from a local HTTP server on 127.0.0.1 and from local files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.embed.encoder import SentenceTransformerEmbedder
from bot.engine import Engine
from bot.errors import PrivateAddressError, SourceError
from bot.ingest.chunk import ChunkingSettings, chunk
from bot.ingest.clean import clean
from bot.ingest.documents import load_article, split_front_matter
from bot.ingest.download import check_public, download, normalise_url
from bot.ingest.fetch import add_source, safe_name
from bot.ingest.formats import pdf_text
from bot.models import Metadata
from bot.settings import Settings

PARAGRAPHS = (
    "The US military said on Tuesday that Russia had sent fighter jets to Libya to support the Wagner "
    "mercenaries fighting there, a claim Moscow denied within hours.",
    "Satellite pictures released by the Israeli company Imagesat showed MiG-29 aircraft parked at the "
    "al-Jufra air base, officials said, adding that the planes had been repainted in Syria.",
    "The Kremlin said the reports had nothing to do with reality and accused Washington of spreading rumours.",
)
ARTICLE = f"""<!doctype html><html><head><meta charset="utf-8"><title>Jets over Libya | The Daily Example</title>
<meta property="og:title" content="Russian jets reach Libya, US says">
<meta name="author" content="Jane Roe"><meta property="article:published_time" content="2020-05-27">
</head><body><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/donate">Donate</a></nav>
<article><h1>Russian jets reach Libya, US says</h1>{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}</article>
<footer>© The Daily Example. All rights reserved.</footer></body></html>""".encode()
NAVIGATION_ONLY = b"<html><head><title>Home</title></head><body><nav><a href='/'>Home</a></nav></body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
CAP = 64 * 1024
STOP = threading.Event()
HUGE = b"<html><body><article>" + b"<p>Words and more words in a long page.</p>" * 4000 + b"</article></body></html>"


def minimal_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page text PDF written by hand (no PDF writer is needed), with a correct xref table."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    stream = "BT /F1 11 Tf 14 TL 50 750 Td " + " ".join(f"({line}) '" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        f"<< /Title ({title}) /Author (Jane Roe) >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n{content}\nendobj\n".encode("latin-1")
    table = f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010d} 00000 n \n" for o in offsets)
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{len(body)}\n%%EOF\n"
    return body + (table + trailer).encode("latin-1")


PDF_LINES = [
    "Aid convoys reached the besieged town of Tarhuna on Monday after",
    "weeks of fighting, the United Nations said in a statement.",
    "",
    "The convoy carried food, medicine and water purification tablets for",
    "about twenty thousand people, according to the UN mission in Libya.",
]


class Handler(BaseHTTPRequestHandler):
    """Serves each test case at its own path."""

    def do_GET(self) -> None:
        routes = {
            "/article": (200, "text/html; charset=utf-8", ARTICLE),
            "/moved": (301, "text/html", b""),
            "/navigation": (200, "text/html", NAVIGATION_ONLY),
            "/logo.png": (200, "image/png", PNG),
            "/huge": (200, "text/html", HUGE),
            "/report.pdf": (200, "application/pdf", minimal_pdf("UN aid report", PDF_LINES)),
        }
        if self.path in ("/trickle", "/trickle-headers"):
            self.trickle(headers_first=self.path == "/trickle")
            return
        if self.path == "/huge-streamed":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(HUGE)
            self.close_connection = True
            return
        if self.path not in routes:
            self.send_error(404, "Not Found")
            return
        status, content_type, body = routes[self.path]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 301:
            self.send_header("Location", "/article")
        self.end_headers()
        self.wfile.write(body)

    def trickle(self, headers_first: bool) -> None:
        """One byte at a time, until the client hangs up or the server stops (bounded either way)."""
        if headers_first:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100000")
            self.end_headers()
        payload = b"HTTP/1.1 200 OK\r\n" if not headers_first else b""
        payload += b"X-Slow: " + b"a" * 5000 if not headers_first else b"<p>" + b"word " * 5000
        for byte in payload:
            if STOP.wait(0.01):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    STOP.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    STOP.set()
    httpd.shutdown()
    httpd.server_close()


def test_an_article_page_is_saved_with_front_matter(server: str, tmp_path: Path) -> None:
    added = add_source(f"{server}/article", tmp_path, allow_private=True)
    assert not added.already_present
    assert added.path == tmp_path / "russian-jets-reach-libya-us-says.md"
    metadata, text = split_front_matter(added.path.read_text(encoding="utf-8"))
    assert metadata == Metadata(
        title="Russian jets reach Libya, US says", url=f"{server}/article", date="2020-05-27", author="Jane Roe"
    )
    assert text.strip().split("\n") == list(PARAGRAPHS), "the headline is the title, not the text's first line"
    assert "Donate" not in text and "rights reserved" not in text


def test_the_same_article_is_reported_as_present(server: str, tmp_path: Path) -> None:
    first = add_source(f"{server}/article", tmp_path, allow_private=True)
    again = add_source(f"{server}/article", tmp_path, allow_private=True)
    assert again.already_present and again.path == first.path
    assert list(tmp_path.iterdir()) == [first.path]


def test_a_redirect_is_followed_and_the_final_address_recorded(server: str, tmp_path: Path) -> None:
    added = add_source(f"{server}/moved", tmp_path, allow_private=True)
    assert split_front_matter(added.path.read_text(encoding="utf-8"))[0].url == f"{server}/article"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "answered 404"),
        ("/logo.png", "is image/png, not an article page"),
        ("/navigation", "Found no article text"),
        ("/huge", "larger than"),
        ("/huge-streamed", "larger than"),
    ],
)
def test_unusable_pages_are_refused(server: str, tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        add_source(f"{server}{path}", tmp_path / "documents", max_bytes=CAP, allow_private=True)
    assert not (tmp_path / "documents").exists() or not any((tmp_path / "documents").iterdir())


def test_unreachable_and_non_http_addresses_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="Could not reach"):
        add_source("http://127.0.0.1:9/article", tmp_path, allow_private=True)
    with pytest.raises(SourceError, match="Only http"):
        add_source("file:///etc/passwd", tmp_path)
    with pytest.raises(SourceError, match="There is no file"):
        add_source(str(tmp_path / "missing.md"), tmp_path)


def test_a_pdf_over_http_is_converted(server: str, tmp_path: Path) -> None:
    added = add_source(f"{server}/report.pdf", tmp_path, allow_private=True)
    metadata, text = split_front_matter(added.path.read_text(encoding="utf-8"))
    assert metadata.title == "UN aid report" and metadata.author == "Jane Roe"
    assert "Aid convoys reached the besieged town of Tarhuna on Monday after weeks of fighting" in " ".join(
        text.split()
    )


def test_a_local_pdf_is_readable_and_added(tmp_path: Path) -> None:
    source = tmp_path / "report.pdf"
    source.write_bytes(minimal_pdf("UN aid report", PDF_LINES))
    text, metadata = pdf_text(source.read_bytes())
    assert "Tarhuna" in text and metadata.title == "UN aid report"
    added = add_source(str(source), tmp_path / "documents")
    assert added.path == tmp_path / "documents" / "un-aid-report.md"
    assert "water purification tablets" in load_article(added.path, added.path.name).text


def test_a_local_markdown_file_keeps_its_text_and_metadata(tmp_path: Path) -> None:
    source = tmp_path / "notes.md"
    body = "First paragraph of the piece, long enough to count as an article for citebot's purposes here.\n\n" * 2
    source.write_text("---\ntitle: '../../etc/passwd'\ndate: 2024-01-02\n---\n" + body, encoding="utf-8")
    added = add_source(str(source), tmp_path / "documents")
    assert added.path == tmp_path / "documents" / "etc-passwd.md"
    metadata, text = split_front_matter(added.path.read_text(encoding="utf-8"))
    assert metadata == Metadata(title="../../etc/passwd", date="2024-01-02")
    assert text.strip() == body.strip()


def test_names_are_safe_and_never_overwrite(tmp_path: Path) -> None:
    assert safe_name("../../x/../Ünïcödé: a “title”!") == "x-unicode-a-title"
    assert safe_name("///") == "article"
    assert len(safe_name("word " * 100)) <= 80
    words = " ".join(["word"] * 30)
    first, second = (tmp_path / f"{n}.md" for n in ("a", "b"))
    first.write_text(f"---\ntitle: Same title\n---\n{words}\n", encoding="utf-8")
    second.write_text(f"---\ntitle: Same title\n---\n{words} changed\n", encoding="utf-8")
    paths = [add_source(str(path), tmp_path / "documents").path.name for path in (first, second)]
    assert paths == ["same-title.md", "same-title-2.md"]


@pytest.mark.slow
def test_cli_add_saves_and_indexes(
    server: str, tmp_path: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEBOT_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setattr("bot.pipeline.SentenceTransformerEmbedder", lambda model: embedder)
    documents, index = tmp_path / "documents", tmp_path / "index"
    arguments = ["add", f"{server}/article", "--documents", str(documents), "--index", str(index)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "Saved" in result.output and "1 added" in result.output
    again = CliRunner().invoke(main, arguments)
    assert again.exit_code == 0 and "Already present" in again.output and "nothing changed" in again.output
    engine = Engine.open(Settings(documents=documents, index=index, _env_file=None))
    passages = engine.search("Which company released the satellite pictures?")
    assert any("Imagesat" in passage.text for passage in passages)
    assert {passage.article.title for passage in passages} == {"Russian jets reach Libya, US says"}
    refused = CliRunner().invoke(main, ["add", f"{server}/missing", "--documents", str(documents)])
    assert refused.exit_code == 1 and "answered 404" in refused.output and "Traceback" not in refused.output


@pytest.mark.parametrize("path", ["/trickle", "/trickle-headers"])
def test_a_trickling_server_is_given_up_at_the_deadline(server: str, path: str) -> None:
    """Each byte arrives well within the socket timeout; only the total deadline can stop this."""
    with pytest.raises(SourceError, match=r"took longer than 0\.3 s"):
        download(f"{server}{path}", max_bytes=10 * CAP, allow_private=True, timeout=0.3)


def test_private_addresses_are_refused_unless_allowed(server: str, tmp_path: Path) -> None:
    with pytest.raises(PrivateAddressError, match=r"127\.0\.0\.1, a loopback, private or link-local.*ALLOW_PRIVATE"):
        add_source(f"{server}/article", tmp_path)
    with pytest.raises(PrivateAddressError):
        add_source(server.replace("127.0.0.1", "localhost") + "/moved", tmp_path)
    assert not any(tmp_path.iterdir())
    for address in (
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1%eth0",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ):
        with pytest.raises(PrivateAddressError):
            check_public("host", address)
    check_public("example.org", "93.184.215.14")
    check_public("example.org", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")


def test_a_redirect_to_a_private_address_is_refused(server: str) -> None:
    """The guard checks every connection, so a redirect cannot reach what the first address could not."""
    with pytest.raises(PrivateAddressError):
        download(f"{server}/moved", max_bytes=CAP, allow_private=False)


def test_a_url_is_saved_once_whatever_its_spelling(server: str, tmp_path: Path) -> None:
    first = add_source(f"{server}/article", tmp_path, allow_private=True)
    for spelling in (f"{server.upper()}/article#comments", f"{server}/article#", f"{server}/moved"):
        again = add_source(spelling, tmp_path, allow_private=True)
        assert again.already_present and again.path == first.path, spelling
    assert list(tmp_path.iterdir()) == [first.path]


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Example.ORG:443/News?id=3#top", "https://example.org/News?id=3"),
        ("http://example.org", "http://example.org/"),
        ("http://EXAMPLE.org:8080/a#", "http://example.org:8080/a"),
        ("http://[::1]:80/x", "http://[::1]/x"),
    ],
)
def test_urls_have_one_spelling(url: str, normal: str) -> None:
    assert normalise_url(url) == normal


def test_a_broken_address_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a valid web address"):
        add_source("http://[::1", tmp_path)
    result = CliRunner().invoke(main, ["add", "http://[::1", "--documents", str(tmp_path / "documents")])
    assert result.exit_code == 1 and "not a valid web address" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


PAGE_WITH_WRAPPED_LINES = f"""<html><head><title>Harbour news</title></head><body><article>
<h1>The harbour reopens after the storm season ends</h1>
<p>{PARAGRAPHS[0]}</p>
<p>A long line of text that does not end a sentence and goes on</p>
<p>and is continued here, as scraped pages often are.</p>
<p>Short</p>
<p>{PARAGRAPHS[1]}   with    odd   spacing.</p>
<ul><li>One item of a list that is long enough to be kept here</li><li>and another.</li></ul>
</article></body></html>"""


def test_a_page_gives_the_same_passages_added_or_indexed(tmp_path: Path) -> None:
    """`citebot add` saves the text the indexer reads from the page itself: one normalisation."""
    page = tmp_path / "page.html"
    page.write_text(PAGE_WITH_WRAPPED_LINES, encoding="utf-8")
    added = add_source(str(page), tmp_path / "documents")

    def passages(path: Path) -> list[str]:
        return [c.text for c in chunk(clean(load_article(path, path.name)).text, ChunkingSettings())]

    assert passages(added.path) == passages(page)
    assert any("goes on\nand is continued" in passage for passage in passages(page))
