"""`citebot ask` with no question: a session at a terminal, or piped questions answered in order.

The engine is opened once, so every answer after the first costs only a warm ask. In a session a
follow-up ("and how many were wounded?") is read with the question it follows as context, as a
Discord thread is; Ctrl-C cancels the answer being worked out, Ctrl-D or `exit` ends the session.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import click

from bot.errors import QuestionError
from bot.library import COMMAND_LINE, Library, command_line_user
from bot.models import Answer
from bot.render.explain import Explained, log_lines, render_explain_json, render_explain_text
from bot.render.terminal import printable, render_answer_text, render_json, render_json_error
from bot.render.text import plural, wrap

log = logging.getLogger("citebot")

PROMPT = "question> "
HISTORY_FILE = "question_history"
HISTORY_LENGTH = 1000
EXIT_WORDS = frozenset({"exit", "quit"})
EXPLAIN_WORD = "explain"
FOLLOW_UP = re.compile(
    r"^\s*(?:and|but|also|so|then|what about|how about|what else)\b"
    r"|\b(?:he|she|it|its|they|them|their|theirs|him|his|her|hers)\b",
    re.IGNORECASE,
)
"""A question that opens with a joining word, or points back with a pronoun, follows the one before."""


@dataclass(frozen=True)
class Asked:
    """One question as it was asked (with the context it was read in) and what came of it."""

    question: str
    context: str | None
    answer: Answer
    explained: Explained | None = None


@dataclass(frozen=True)
class Asker:
    """Asks the library and renders the reply, the same way for one question, piped ones and a session."""

    library: Library
    as_json: bool = False
    explain: bool = False
    color: bool = False
    width: int = 100
    user: int | None = field(default_factory=command_line_user)

    def ask(self, question: str, context: str | None = None, explain: bool | None = None) -> Asked:
        """The answer, with its trace when explaining or logging; the library records a question the
        sources don't cover for `citebot gaps`."""
        explain = self.explain if explain is None else explain
        started = time.perf_counter()
        if not (explain or log.isEnabledFor(logging.INFO)):
            return Asked(question, context, self.library.ask(question, context, self.user, COMMAND_LINE))
        trace = self.library.trace(question, context, self.user, COMMAND_LINE)
        engine = self.library.engine
        explained = Explained(trace, trace.thresholds or engine.thresholds, engine.judge, context)
        for line in log_lines(explained, time.perf_counter() - started):
            log.info(line)
        return Asked(question, context, trace.answer, explained if explain else None)

    def render(self, asked: Asked) -> str:
        if self.as_json:
            return render_explain_json(asked.explained) if asked.explained else render_json(asked.answer)
        text = render_answer_text(asked.answer, color=self.color, width=self.width)
        if asked.explained:
            text += "\n\n" + render_explain_text(asked.explained, self.width)
        return text

    def error(self, question: str, message: str) -> str:
        """A question that could not be asked, shown where its answer would be."""
        return render_json_error(question, message) if self.as_json else f"citebot: {message}"


def answer_lines(asker: Asker, lines: Iterable[bytes]) -> None:
    """Each non-blank line a question, answered in order: one JSON line each with ``--json``, else one
    readable block each (the question, then its answer)."""
    first = True
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line.strip():
            continue
        try:
            raw.decode("utf-8")
            reply = asker.render(asker.ask(line))
        except UnicodeDecodeError as error:
            reply = asker.error(line, f"This line is not valid UTF-8 (byte {error.start}); save it as UTF-8.")
        except QuestionError as error:
            reply = asker.error(line, str(error))
        if not asker.as_json:
            separator = "" if first else "\n"
            reply = f"{separator}> {printable(' '.join(line.split()))}\n{reply}"
        click.echo(reply)
        first = False


def is_follow_up(question: str) -> bool:
    return FOLLOW_UP.search(question) is not None


def run_session(asker: Asker, articles: int, stdout: TextIO | None = None) -> None:
    """Questions from the terminal until Ctrl-D or `exit`, with line editing and history."""
    stdout = stdout or sys.stdout
    history = _start_history(asker.library.settings.index)
    welcome = (
        f"Ask about the {plural(articles, 'article')}. A follow-up is read with the question before it; "
        f"`{EXPLAIN_WORD}` shows why the last answer is what it is; Ctrl-D or `exit` ends."
    )
    click.echo(wrap(welcome, asker.width), err=True)
    topic: str | None = None
    last: Asked | None = None
    try:
        while True:
            try:
                line = _read_question(stdout)
            except EOFError:
                click.echo(err=True)
                return
            except KeyboardInterrupt:
                click.echo(err=True)
                continue
            text = line.strip()
            if not text:
                continue
            if text.casefold() in EXIT_WORDS:
                return
            try:
                if text.casefold() == EXPLAIN_WORD:
                    if last is None:
                        click.echo(f"Ask a question first; `{EXPLAIN_WORD}` then shows why its answer is what it is.")
                        continue
                    click.echo(asker.render(asker.ask(last.question, last.context, explain=True)))
                    continue
                context = topic if topic and is_follow_up(text) else None
                last = asker.ask(text, context)
                click.echo(asker.render(last))
                topic = topic if context else text
            except KeyboardInterrupt:
                click.echo("Cancelled. Ask again, or Ctrl-D to end.", err=True)
            except QuestionError as error:
                click.echo(f"citebot: {error}", err=True)
    finally:
        _save_history(history)


def _read_question(stdout: TextIO) -> str:
    """One line from the terminal; the prompt goes to stderr when stdout is not a terminal (a file)."""
    if stdout.isatty():
        return input(PROMPT)
    sys.stderr.write(PROMPT)
    sys.stderr.flush()
    return input()


def _start_history(index: Path) -> Path | None:
    """Line editing, and the questions of earlier sessions (kept in the index folder) to recall."""
    try:
        import readline
    except ImportError:  # no readline on this platform: a plain prompt
        return None
    path = index / HISTORY_FILE
    readline.set_history_length(HISTORY_LENGTH)
    try:
        readline.read_history_file(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        log.warning("Could not read the question history %s: %s", path, error)
    return path


def _save_history(path: Path | None) -> None:
    if path is None:
        return
    import readline

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # questions can be private: this user only
        readline.write_history_file(path)
    except OSError as error:
        log.warning("Could not save the question history %s: %s", path, error)
