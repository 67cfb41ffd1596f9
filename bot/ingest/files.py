"""Saving a file into the documents folder all or nothing: a full disk or a crash never leaves part of
an article where the next build would index it."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP}


def write_new_file(path: Path, content: bytes) -> bool:
    """Write ``content`` to ``path`` unless something is there already (then False). It goes to a hidden
    temporary file in the same folder (builds skip hidden files), is fsynced, and is then linked into
    place, which refuses to replace anything; the temporary file is removed whatever happens. An
    ``OSError`` names ``path``."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            written = 0
            while written < len(content):
                written += os.write(descriptor, content[written:])
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return _link_new(draft, path)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    finally:
        draft.unlink(missing_ok=True)


def _link_new(draft: Path, path: Path) -> bool:
    """Give ``draft`` the name ``path`` unless that name is taken; False when it is."""
    try:
        os.link(draft, path)
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in NO_HARD_LINKS or path.exists():
            raise
        os.rename(draft, path)  # a file system without hard links: the check above and this are not atomic
    return True
