"""Errors a user can meet. Each message says what to do next; the edges print it without a traceback."""

from __future__ import annotations

import errno


class CitebotError(Exception):
    """Base of every error meant for the user."""


class SettingsError(CitebotError):
    pass


class DocumentsError(CitebotError):
    """The documents folder is missing, empty, or holds nothing readable."""


class QuestionError(CitebotError):
    """The question cannot be asked as it is (empty, or too long)."""


class IndexMissingError(CitebotError):
    pass


class IndexCorruptError(CitebotError):
    pass


class IndexMismatchError(CitebotError):
    """The index was built with other settings than the ones asked for."""


class ModelError(CitebotError):
    pass


class QuestionsFileError(CitebotError):
    """The question file of `citebot eval` is missing or a line of it is not a question."""


class PlotError(CitebotError):
    """`citebot eval --plot` cannot draw: the optional plotting library is missing, or the file type is unknown."""


class SourceError(CitebotError):
    """An article could not be fetched or read (``citebot add``)."""


class PrivateAddressError(SourceError):
    """An address resolves to a loopback, private or link-local host, which citebot does not fetch."""


class FeedError(CitebotError):
    """A feed cannot be followed or polled: unreachable, not a feed, or malformed."""


class DatabaseFileError(CitebotError):
    """One of citebot's own SQLite files (feeds, feedback) is damaged, locked, read-only or on a full disk."""


class UnreadableDocument(Exception):
    """One file that is skipped with a warning naming it and this reason; never stops a build."""


REBUILD_HINT = "Run `citebot index` to rebuild it."


class DiskError(CitebotError):
    """Writing or reading failed because of the disk or the folder: full, read-only, not ours, in the way."""


DISK_PROBLEMS = {
    errno.ENOSPC: ("the disk is full", "free some space"),
    errno.EDQUOT: ("the disk quota is used up", "free some space"),
    errno.EROFS: ("the folder is on a read-only file system", "make it writable or choose another folder"),
    errno.EACCES: ("permission is denied", "give this user access to it or choose another folder"),
    errno.EPERM: ("the operation is not permitted", "give this user access to it or choose another folder"),
    errno.ENOTDIR: ("a file stands where a folder should be", "move the file away or choose another folder"),
    errno.EEXIST: ("something is already in the way", "move it away or choose another folder"),
}


def disk_error(error: OSError, retry: str) -> DiskError:
    """One line for an ``OSError`` a user can cause: what happened, where, and what to do; ``retry``
    is the command to run again. A build that failed this way left the previous index serving."""
    what, advice = DISK_PROBLEMS.get(error.errno or 0, (error.strerror or str(error), "check the folder"))
    where = f" at {error.filename}" if error.filename else ""
    return DiskError(
        f"{what[0].upper()}{what[1:]}{where}; {advice} and run {retry} again. The previous index, if any, still serves."
    )
