"""The `citebot` group and what its commands share: options, settings, one-line errors.

Heavy modules are imported inside the commands so that `citebot --help` answers instantly.
"""

from __future__ import annotations

import logging
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
