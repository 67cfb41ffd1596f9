"""`citebot index | ask | add | stats | eval | discord | feedback`: parse, call the library, render.

No retrieval logic here; heavy modules are imported inside the commands.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import click

from bot.cli.group import (
    documents_option,
    index_option,
    library_for,
    open_engine,
    progress_wanted,
    say,
    settings_for,
)


@click.command()
@documents_option
@index_option
def index(documents: Path | None, index_dir: Path | None) -> None:
    """Clean, chunk and embed the articles into a new index, then swap it in."""
    click.echo(library_for(settings_for(documents, index_dir)).reindex().checked().summary())


@click.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON; with no QUESTION, one line per stdin line.")
@click.option(
    "--explain", is_flag=True, help="Also show why: passages found, every judged sentence's scores, the threshold."
)
@documents_option
@index_option
def ask(question: str | None, as_json: bool, explain: bool, documents: Path | None, index_dir: Path | None) -> None:
    """Answer QUESTION with cited passages from the articles; with no QUESTION at a terminal, start a session.

    Piped questions (one a line) are answered in order: a readable block each, or one JSON line each."""
    from bot.cli.group import JSON_ERRORS
    from bot.cli.session import Asker, answer_lines, run_session
    from bot.errors import QuestionError

    if as_json:
        click.get_current_context().meta[JSON_ERRORS] = question  # every error is then a JSON line on stdout too
    if question is not None and not is_text(question):
        raise QuestionError("The question is not valid UTF-8 text. Type it again, or set your terminal to UTF-8.")
    settings = settings_for(documents, index_dir)
    library = library_for(settings, open_engine(settings))
    width = min(shutil.get_terminal_size().columns, 100)
    asker = Asker(library, as_json=as_json, explain=explain, color=sys.stdout.isatty(), width=width)
    if question is not None:
        click.echo(asker.render(asker.ask(question)))
    elif sys.stdin.isatty():
        run_session(asker, library.info.articles)
    else:
        answer_lines(asker, sys.stdin.buffer)


def is_text(argument: str) -> bool:
    """False for an argument that held invalid UTF-8 (Python keeps those bytes as lone surrogates)."""
    try:
        argument.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@click.command()
@click.argument("source")
@documents_option
@index_option
def add(source: str, documents: Path | None, index_dir: Path | None) -> None:
    """Add the article at SOURCE (an http(s) address or a file) to the documents, then index it."""
    addition = library_for(settings_for(documents, index_dir)).add(source)
    added = addition.added
    say(f"{'Already present as' if added.already_present else 'Saved'} {added.path}: {added.title}")
    click.echo(addition.indexed.checked().summary())


@click.command()
@index_option
def stats(index_dir: Path | None) -> None:
    """Print what the index holds and how it was built."""
    from bot.read.thresholds import thresholds_for
    from bot.store.stats import index_stats

    settings = settings_for(None, index_dir)
    figures = index_stats(settings.index)
    thresholds = thresholds_for(settings)
    min_score = f"{thresholds.answer:g} ({thresholds.source})"
    rows = (
        ("Index", str(figures.build)),
        ("Articles", f"{figures.articles:,}"),
        ("Passages", f"{figures.passages:,}"),
        ("Sentences", f"{figures.sentences:,}"),
        ("Model", f"{figures.model} ({figures.dimension} dimensions)"),
        ("Query model", "ONNX" if figures.has_query_model else "none, queries load sentence-transformers"),
        ("Built", figures.built_at),
        ("Size on disk", f"{figures.bytes_on_disk / 1e6:,.1f} MB"),
        ("Min score", min_score),
    )
    for label, value in rows:
        click.echo(f"{label + ':':<14}{value}")


@click.command(name="eval")
@click.argument("questions", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw hit@1, answered and abstained against the threshold into FILE.png (needs citebot[plot]).",
)
@documents_option
@index_option
def evaluate(questions: Path, as_json: bool, plot: Path | None, documents: Path | None, index_dir: Path | None) -> None:
    """Measure answers on QUESTIONS.jsonl: hybrid, dense-only and lexical-only retrieval."""
    from bot.evaluation.questions import load_questions
    from bot.evaluation.run import ALL_MODES, run_eval
    from bot.render.evaluation import render_json, render_report

    if plot is not None:
        from bot.render.plot import check_plot_file

        check_plot_file(plot)
    asked = load_questions(questions)
    engine = open_engine(settings_for(documents, index_dir))
    report = run_eval(engine, asked, ALL_MODES, source=str(questions), progress=progress_wanted())
    click.echo(render_json(report) if as_json else render_report(report))
    if plot is not None:
        from bot.render.plot import write_plot

        click.echo(f"Drew the threshold curve into {write_plot(report, plot)}.", err=True)


@click.command()
def discord() -> None:
    """Run the Discord bot; its token comes from DISCORD_TOKEN (environment or .env)."""
    from bot.chat.bot import run_discord
    from bot.settings import ChatSettings, load_settings

    logging.getLogger().setLevel(logging.INFO)
    run_discord(library_for(load_settings(), progress=False), load_settings(ChatSettings))


@click.command()
@index_option
def feedback(index_dir: Path | None) -> None:
    """Summarise the 👍 / 👎 votes people gave answers in Discord."""
    from bot.feedback import feedback_summary

    click.echo(feedback_summary(settings_for(None, index_dir)))
