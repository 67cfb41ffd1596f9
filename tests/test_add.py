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
from bot.errors import SourceError
from bot.ingest.documents import load_article, split_front_matter
from bot.ingest.fetch import add_source, safe_name
from bot.ingest.formats import pdf_text
from bot.models import Metadata
from bot.pipeline import Engine
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

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_an_article_page_is_saved_with_front_matter(server: str, tmp_path: Path) -> None:
    added = add_source(f"{server}/article", tmp_path)
    assert not added.already_present
    assert added.path == tmp_path / "russian-jets-reach-libya-us-says.md"
    metadata, text = split_front_matter(added.path.read_text(encoding="utf-8"))
    assert metadata == Metadata(
        title="Russian jets reach Libya, US says", url=f"{server}/article", date="2020-05-27", author="Jane Roe"
    )
    assert text.strip().split("\n\n") == list(PARAGRAPHS)
    assert "Donate" not in text and "rights reserved" not in text


def test_the_same_article_is_reported_as_present(server: str, tmp_path: Path) -> None:
    first = add_source(f"{server}/article", tmp_path)
    again = add_source(f"{server}/article", tmp_path)
    assert again.already_present and again.path == first.path
    assert list(tmp_path.iterdir()) == [first.path]


def test_a_redirect_is_followed_and_the_final_address_recorded(server: str, tmp_path: Path) -> None:
    added = add_source(f"{server}/moved", tmp_path)
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
        add_source(f"{server}{path}", tmp_path / "documents", max_bytes=CAP)
    assert not (tmp_path / "documents").exists() or not any((tmp_path / "documents").iterdir())


def test_unreachable_and_non_http_addresses_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="Could not reach"):
        add_source("http://127.0.0.1:9/article", tmp_path)
    with pytest.raises(SourceError, match="Only http"):
        add_source("file:///etc/passwd", tmp_path)
    with pytest.raises(SourceError, match="There is no file"):
        add_source(str(tmp_path / "missing.md"), tmp_path)


def test_a_pdf_over_http_is_converted(server: str, tmp_path: Path) -> None:
    added = add_source(f"{server}/report.pdf", tmp_path)
    metadata, text = split_front_matter(added.path.read_text(encoding="utf-8"))
    assert metadata.title == "UN aid report" and metadata.author == "Jane Roe"
    assert "Aid convoys reached the besieged town of Tarhuna on Monday after weeks of fighting" in text


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


def test_cli_add_saves_and_indexes(
    server: str, tmp_path: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.pipeline.SentenceTransformerEmbedder", lambda model: embedder)
    documents, index = tmp_path / "documents", tmp_path / "index"
    arguments = ["add", f"{server}/article", "--documents", str(documents), "--index", str(index)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "Saved" in result.output and "1 added" in result.output
    again = CliRunner().invoke(main, arguments)
    assert again.exit_code == 0 and "Already present" in again.output and "1 unchanged" in again.output
    answer = Engine.open(Settings(documents=documents, index=index, _env_file=None)).ask(
        "Which company released the satellite pictures?"
    )
    assert answer.answered and "Imagesat" in answer.citations[0].sentence
    refused = CliRunner().invoke(main, ["add", f"{server}/missing", "--documents", str(documents)])
    assert refused.exit_code == 1 and "answered 404" in refused.output and "Traceback" not in refused.output
