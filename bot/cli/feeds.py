"""`citebot follow | unfollow | feeds | update | gaps`: keeping the collection up with the news.

Each command that saves articles updates the index once afterwards (incrementally): the library does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.group import documents_option, index_option, library_for, say, settings_for

if TYPE_CHECKING:
    from bot.library import Polled


@click.command()
@click.argument("url")
@documents_option
@index_option
def follow(url: str, documents: Path | None, index_dir: Path | None) -> None:
    """Follow the RSS or Atom feed at URL: fetch it now, then with every `citebot update`."""
    polled = library_for(settings_for(documents, index_dir)).follow(url)
    [result] = polled.results
    say(f"Following {result.title or result.url} ({result.url}).")
    _report(polled)


@click.command()
@click.argument("url")
@documents_option
@index_option
def unfollow(url: str, documents: Path | None, index_dir: Path | None) -> None:
    """Stop following the feed at URL (the articles it brought stay)."""
    library_for(settings_for(documents, index_dir)).unfollow(url)
    say(f"No longer following {url}.")


@click.command()
@documents_option
@index_option
def feeds(documents: Path | None, index_dir: Path | None) -> None:
    """List the followed feeds: title, last check, articles added, last error."""
    found = library_for(settings_for(documents, index_dir)).feeds()
    if not found:
        click.echo("No feeds followed. Add one with `citebot follow URL`.")
        return
    for feed in found:
        say(f"{feed.title or '(untitled)'}\n  {feed.url}")
        checked = feed.last_checked or "never"
        say(f"  last checked {checked} · {feed.added} article{'s' if feed.added != 1 else ''} added")
        if feed.last_error:
            retry = f" (failed {feed.failures}x; next try after {feed.retry_after})" if feed.retry_after else ""
            say(f"  last error: {feed.last_error}{retry}")


@click.command()
@documents_option
@index_option
def update(documents: Path | None, index_dir: Path | None) -> None:
    """Poll every followed feed once and index what is new (for cron)."""
    polled = library_for(settings_for(documents, index_dir)).poll()
    if not polled.results:
        click.echo("No feeds followed. Add one with `citebot follow URL`.")
        return
    _report(polled)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@index_option
def gaps(as_json: bool, index_dir: Path | None) -> None:
    """List what people asked that the sources did not cover, most asked first."""
    found = library_for(settings_for(None, index_dir)).gaps()
    if as_json:
        records = [
            {
                "question": gap.question,
                "count": gap.count,
                "askers": gap.askers,
                "last_asked": gap.last_asked,
                "best_confidence": gap.best_confidence,
                "wordings": list(gap.wordings),
            }
            for gap in found
        ]
        click.echo(json.dumps({"gaps": records}, ensure_ascii=False))
        return
    if not found:
        click.echo("No unanswered questions recorded yet.")
        return
    for gap in found:
        others = len(gap.wordings) - 1
        variants = f" (+{others} similar wording{'s' if others != 1 else ''})" if others else ""
        say(f"{gap.count:>4}x  {gap.question}{variants}  · last asked {gap.last_asked}")


def _report(polled: Polled) -> None:
    """One line per feed, one per added article, then what the index update after them did."""
    for result in polled.results:
        name = result.title or result.url
        if result.waiting:
            say(f"{name}: waiting after failures ({result.error})")
        elif result.error:
            say(f"{name}: failed, will retry later ({result.error})")
        elif result.not_modified:
            say(f"{name}: unchanged")
        else:
            skipped = f", {result.skipped} skipped (see -v)" if result.skipped else ""
            say(f"{name}: {len(result.added)} new{skipped}")
        for article in result.added:
            say(f"  + {article.title} ({article.date or 'undated'}) -> {article.path}")
    if polled.indexed is not None:
        click.echo(polled.indexed.checked().summary())
