"""Files a crash must find whole: each is on disk before anything points at it."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def replace_file(path: Path, text: str) -> None:
    """Give ``path`` this text in one atomic step: a reader finds the old text or the new, never a part."""
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_text(text, encoding="utf-8")
    fsync_file(draft)
    os.replace(draft, path)
