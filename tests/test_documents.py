import contextlib
from pathlib import Path

import pytest

from bot.errors import DocumentsError, UnreadableDocument
from bot.ingest.documents import front_matter, read_article, scan_documents, split_front_matter
from bot.models import Article, Metadata
from bot.pipeline import build_index
from tests.conftest import make_settings
from tests.fakes import FAKE_MODEL, HashingEmbedder


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def read_folder(folder: Path) -> list[Article]:
    """The articles of ``folder`` as an index build reads them: found, then read and cleaned."""
    articles = []
    for found in scan_documents(folder):
        with contextlib.suppress(UnreadableDocument):
            articles.append(read_article(found))
    return articles


def test_front_matter_gives_metadata_and_is_not_part_of_the_text(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.md",
        "---\ntitle: Moscow denies\nurl: https://example.org/a\ndate: 2020-05-28\n"
        "author: A. Writer\n---\nRussia has denied the allegations.\n",
    )
    [article] = read_folder(tmp_path)
    assert (article.title, article.url, article.date, article.author) == (
        "Moscow denies",
        "https://example.org/a",
        "2020-05-28",
        "A. Writer",
    )
    assert article.text == "Russia has denied the allegations."
    assert article.document == "a.md"


def test_front_matter_round_trips() -> None:
    metadata = Metadata(title="A: colon, and 'quotes'", url="https://example.org/x?y=1", date="2020-05-28")
    parsed, body = split_front_matter(front_matter(metadata) + "Body.\n")
    assert parsed == metadata
    assert body == "Body.\n"


def test_html_is_extracted_with_its_meta_tags(tmp_path: Path) -> None:
    paragraph = "Russia has denied the allegations about its role in the conflict in Libya. " * 3
    write(
        tmp_path,
        "page.html",
        f"""<html><head><title>Denial | Site</title>
        <meta property="og:title" content="Russia denies the claims">
        <meta name="author" content="Jane Doe"><meta property="article:published_time" content="2020-05-28">
        <link rel="canonical" href="https://example.org/denial"></head>
        <body><nav>Home | Donate</nav><article><h1>Russia denies the claims</h1><p>{paragraph}</p>
        <p>{paragraph}</p></article><footer>Leave a Reply</footer></body></html>""",
    )
    [article] = read_folder(tmp_path)
    assert "Russia has denied the allegations" in article.text
    assert "Donate" not in article.text
    assert article.title == "Russia denies the claims"
    assert article.url == "https://example.org/denial"
    assert article.date == "2020-05-28"
    assert article.author == "Jane Doe"


def test_binary_and_non_utf8_files_are_skipped_and_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, "good.txt", "Russia has denied the allegations.")
    write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(tmp_path, "latin1.txt", "Caf\xe9 au lait is served in Tripoli.".encode("latin-1"))
    write(tmp_path, "empty.md", "   \n\n")
    report = build_index(make_settings(tmp_path, tmp_path / ".index", model=FAKE_MODEL), embedder=HashingEmbedder())
    assert report.articles == 1
    assert {s.document for s in report.skipped} == {"image.txt", "latin1.txt", "empty.md"}
    assert "image.txt" in caplog.text and "latin1.txt" in caplog.text
    assert [a.document for a in read_folder(tmp_path)] == ["good.txt"]


def test_unsupported_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "notes.docx", b"PK\x03\x04")
    write(tmp_path, ".hidden/secret.txt", "Not an article.")
    write(tmp_path, "sub/b.txt", "An article in a subfolder.")
    assert [a.document for a in read_folder(tmp_path)] == ["sub/b.txt"]


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentsError, match="does not exist"):
        scan_documents(tmp_path / "nowhere")


def test_article_ids_derive_from_place_and_content(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "Same text.")
    write(tmp_path, "b.txt", "Same text.")
    first_a, first_b = read_folder(tmp_path)
    assert first_a.id != first_b.id
    assert read_folder(tmp_path)[0].id == first_a.id
    write(tmp_path, "a.txt", "Edited text.")
    assert read_folder(tmp_path)[0].id != first_a.id
