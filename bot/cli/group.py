"""The `citebot` group and what its commands share: options, settings, one-line errors.

Heavy modules are imported inside the commands so that `citebot --help` answers instantly.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from bot.errors import CitebotError, disk_error
from bot.render.terminal import printable, render_json_error

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.library import Library
    from bot.settings import Settings

log = logging.getLogger("citebot")

FOLDER_OPTIONS = "citebot.folder_options"
JSON_ERRORS = "citebot.json_errors"
QUIET_LOGGERS = ("faiss.loader",)
# Libraries that log warnings and errors about what they coped with (a PDF without its EOF marker, a page
# with no text) before citebot says, in one line of its own, what it did with the file; they show with -v.
LIBRARY_LOGGERS = ("pypdf", "trafilatura", "htmldate", "courlan", "justext")
LOG_FORMAT = "%(levelname)s: %(message)s"


def remember_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Keep ``--documents``/``--index`` so that a hint to run `citebot index` can repeat them."""
    if value is not None:
        ctx.meta.setdefault(FOLDER_OPTIONS, {})[param.opts[0]] = value
    return value


documents_option = click.option(
    "--documents",
    type=click.Path(path_type=Path),
    callback=remember_folder,
    help="Folder of articles [CITEBOT_DOCUMENTS, default documents/].",
)
index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    callback=remember_folder,
    help="Index folder [CITEBOT_INDEX, default index/].",
)


def command_line(ctx: click.Context, command: str = "index") -> str:
    """`citebot COMMAND` as this user must type it: with the folders the failed command was given."""
    folders = ctx.meta.get(FOLDER_OPTIONS, {})
    options = "".join(f" {option} {shlex.quote(str(path))}" for option, path in folders.items())
    return f"`citebot {command}{options}`"


class CitebotGroup(click.Group):
    """Turns every user error into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CitebotError as error:
            fail(str(error).replace("`citebot index`", command_line(ctx)), ctx)
        except BrokenPipeError:
            # The reader went away (`citebot ask ... | head`): stop quietly, as other tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as error:
            log.debug("Failed on an OSError", exc_info=True)
            fail(str(disk_error(error, command_line(ctx, ctx.invoked_subcommand or "index"))), ctx)
        except KeyboardInterrupt:
            click.echo("citebot: interrupted; nothing was changed.", err=True)
            sys.exit(130)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's whole first sentence, wrapped rather than cut off with '...'."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, command.get_short_help_str(limit=200)) for name, command in commands if command]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def fail(message: str, ctx: click.Context | None = None) -> NoReturn:
    """The error in one line on stderr, and exit 1. A command that promised JSON (`ask --json`) also gets
    it as a JSON line on stdout, so a script reading stdout always gets JSON."""
    if ctx is not None and JSON_ERRORS in ctx.meta:
        question = ctx.meta[JSON_ERRORS]
        if question is not None:  # bytes of invalid UTF-8 in the argument are shown as stdin lines show them
            question = question.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        click.echo(render_json_error(question, message))
    click.echo(f"citebot: {printable(message)}", err=True)
    sys.exit(1)


def say(text: str) -> None:
    """``click.echo`` for text holding what articles, feeds or their servers wrote (titles, addresses,
    errors): without escape sequences or control characters, so none of it can drive the terminal."""
    click.echo(printable(text))


class PrintableFormatter(logging.Formatter):
    """Log lines quote file names, titles and addresses from articles and feeds: none may drive the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


@click.group(cls=CitebotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
def main(verbose: bool) -> None:
    """Answer questions from your articles with verbatim, cited quotes."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter(LOG_FORMAT))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.CRITICAL)


def settings_for(documents: Path | None, index_dir: Path | None) -> Settings:
    from bot.settings import load_settings

    overrides = {key: value for key, value in (("documents", documents), ("index", index_dir)) if value is not None}
    return load_settings().model_copy(update=overrides)


def progress_wanted() -> bool:
    """Whether a progress bar fits stderr. (Builds report on any stderr: ``bot.render.progress``.)"""
    return sys.stderr.isatty()


def library_for(settings: Settings, engine: Engine | None = None, progress: bool = True) -> Library:
    """The library as the command line uses it: builds show their progress, and what it does unasked
    (building a missing index first) is said on stderr."""
    from bot.library import Library

    return Library(settings, engine, progress=progress, announce=lambda line: click.echo(line, err=True))


def open_engine(settings: Settings) -> Engine:
    """The engine over the current index, building one first when there is none yet.

    An index carries its query model as ONNX, so opening one does not import torch."""
    return library_for(settings).engine
