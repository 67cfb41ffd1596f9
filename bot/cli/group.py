"""The `citebot` group and what its commands share: options, settings, one-line errors.

Heavy modules are imported inside the commands so that `citebot --help` answers instantly.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from bot.errors import CitebotError, disk_error

log = logging.getLogger("citebot")

FOLDER_OPTIONS = "citebot.folder_options"
QUIET_LOGGERS = ("faiss.loader",)


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
            fail(str(error).replace("`citebot index`", command_line(ctx)))
        except BrokenPipeError:
            # The reader went away (`citebot ask ... | head`): stop quietly, as other tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as error:
            log.debug("Failed on an OSError", exc_info=True)
            fail(str(disk_error(error, command_line(ctx, ctx.invoked_subcommand or "index"))))
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


def fail(message: str) -> NoReturn:
    click.echo(f"citebot: {message}", err=True)
    sys.exit(1)


@click.group(cls=CitebotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
def main(verbose: bool) -> None:
    """Answer questions from your articles with verbatim, cited quotes."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)


def settings_for(documents: Path | None, index_dir: Path | None) -> Any:
    from bot.settings import load_settings

    overrides = {key: value for key, value in (("documents", documents), ("index", index_dir)) if value is not None}
    return load_settings().model_copy(update=overrides)


def progress_wanted() -> bool:
    return sys.stderr.isatty()


def open_engine(settings: Any) -> Any:
    """The engine over the current index, building one first when there is none yet.

    An index carries its query model as ONNX, so opening one does not import torch."""
    from bot.embed.encoder import SentenceTransformerEmbedder
    from bot.errors import IndexMissingError
    from bot.pipeline import Engine, build_index

    try:
        return Engine.open(settings)
    except IndexMissingError:
        embedder = SentenceTransformerEmbedder(settings.model)
        click.echo(f"No index in {settings.index} yet: building it from {settings.documents} first.", err=True)
        report = build_index(settings, progress=progress_wanted(), embedder=embedder)
        click.echo(report.summary(), err=True)
        return Engine.open(settings, embedder)
