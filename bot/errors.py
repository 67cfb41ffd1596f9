"""Errors a user can meet. Each message says what to do next; the edges print it without a traceback."""


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


class SourceError(CitebotError):
    """An article could not be fetched or read (``citebot add``)."""


class PrivateAddressError(SourceError):
    """An address resolves to a loopback, private or link-local host, which citebot does not fetch."""


class FeedError(CitebotError):
    """A feed cannot be followed or polled: unreachable, not a feed, or malformed."""


class UnreadableDocument(Exception):
    """One file that is skipped with a warning naming it and this reason; never stops a build."""


REBUILD_HINT = "Run `citebot index` to rebuild it."
