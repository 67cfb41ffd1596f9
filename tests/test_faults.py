"""What a careless or hostile user can do to citebot, done for real: hostile files in the documents
folder, a full or read-only disk, broken input and terminal escapes. Each test failed before the
fix it names; none ends in a traceback, a hang or a leak."""

from __future__ import annotations

import io
import logging
import os
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from bot.errors import UnreadableDocument
from bot.ingest.documents import load_documents
from bot.ingest.formats import pdf_text
from bot.pipeline import Engine, build_index
from tests.conftest import SHIPPED_DOCUMENTS, make_settings
from tests.fakes import FAKE_MODEL, HashingEmbedder
from tests.test_add import PDF_LINES, minimal_pdf

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
    articles, skipped = load_documents(tmp_path)
    assert sorted(a.document for a in articles) == ["bad-date.md", "good.txt"]
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
