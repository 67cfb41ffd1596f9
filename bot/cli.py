"""`citebot index | ask | ...`: parse, call the pipeline, render. No retrieval logic here.

Heavy modules are imported inside the commands so that `citebot --help` answers instantly.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from bot.errors import CitebotError

log = logging.getLogger("citebot")

documents_option = click.option(
    "--documents", type=click.Path(path_type=Path), help="Folder of articles [CITEBOT_DOCUMENTS, default documents/]."
)
index_option = click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), help="Index folder [CITEBOT_INDEX, default index/]."
)


class CitebotGroup(click.Group):
    """Turns every user error into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CitebotError as error:
            click.echo(f"citebot: {error}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("citebot: interrupted; nothing was changed.", err=True)
            sys.exit(130)


@click.group(cls=CitebotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
def main(verbose: bool) -> None:
    """Answer questions from your articles with verbatim, cited quotes."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr
    )


def settings_for(documents: Path | None, index_dir: Path | None) -> Any:
    from bot.settings import load_settings

    overrides = {key: value for key, value in (("documents", documents), ("index", index_dir)) if value is not None}
    return load_settings().model_copy(update=overrides)


def progress_wanted() -> bool:
    return sys.stderr.isatty()


@main.command()
@documents_option
@index_option
def index(documents: Path | None, index_dir: Path | None) -> None:
    """Clean, chunk and embed the articles into a new index, then swap it in."""
    from bot.pipeline import build_index

    report = build_index(settings_for(documents, index_dir), progress=progress_wanted())
    click.echo(report.summary())


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON; with no QUESTION, one line per stdin line.")
@documents_option
@index_option
def ask(question: str | None, as_json: bool, documents: Path | None, index_dir: Path | None) -> None:
    """Answer QUESTION with cited passages from the articles."""
    from bot.render import render_json, render_json_error, render_text

    if question is None and not as_json:
        raise click.UsageError('Give a question, e.g. citebot ask "who denied the Wagner claims?"')
    engine = open_engine(settings_for(documents, index_dir))
    if question is not None:
        answer = engine.ask(question)
        if as_json:
            click.echo(render_json(answer))
        else:
            color = sys.stdout.isatty()
            click.echo(render_text(answer, color=color, width=min(shutil.get_terminal_size().columns, 100)))
        return
    from bot.errors import QuestionError

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            click.echo(render_json(engine.ask(line)))
        except QuestionError as error:
            click.echo(render_json_error(line.rstrip("\n"), str(error)))


def open_engine(settings: Any) -> Any:
    """The engine over the current index, building one first when there is none yet.

    An index carries its query model as ONNX, so opening one does not import torch."""
    from bot.embed import SentenceTransformerEmbedder
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
