"""`citebot ask` with no question: a session on a pseudo-terminal (question, follow-up, `explain`, Ctrl-C,
Ctrl-D, history), and piped questions answered in order, on the fast tier's stand-ins."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.cli.session import HISTORY_FILE, PROMPT, is_follow_up
from bot.settings import Settings
from tests.conftest import FAKE_ANSWERABLE, ROOT
from tests.fakes import FAKE_MODEL

DRIVER = ROOT / "tests" / "session_driver.py"
STYLES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")
WAIT = 30.0
FOLLOW_UP = "and what did they say about it?"


class Terminal:
    """`citebot ARGS...` (``tests/session_driver.py``) on a pseudo-terminal of 100 columns: what a person
    types goes in, what the terminal would show comes out. Reads give up after ``WAIT`` seconds."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec at once, so nothing of pytest runs here
            os.execve(sys.executable, [sys.executable, str(DRIVER), *args], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        self.seen = ""

    def expect(self, text: str, timeout: float = WAIT) -> str:
        """Everything shown up to and including ``text`` (escape codes left out)."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"waited {timeout:.0f} s for {text!r}; the terminal shows:\n{self.seen}")
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"citebot ended before showing {text!r}; the terminal shows:\n{self.seen}")
            self.seen += STYLES.sub("", chunk.decode("utf-8", errors="replace"))
        shown, _, self.seen = self.seen.partition(text)
        return shown + text

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def ask(self, question: str) -> str:
        """What the session shows between this question and the next prompt."""
        self.type(question + "\n")
        return self.expect(PROMPT)

    def exit_code(self, timeout: float = WAIT) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            with_output = select.select([self.fd], [], [], 0.1)[0]
            if with_output:
                with contextlib.suppress(OSError):
                    os.read(self.fd, 65536)
        raise AssertionError("the session did not end")

    def close(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def index_copy(fake_settings: Settings, tmp_path: Path) -> Settings:
    """The fast tier's index, copied: a session writes its history and gaps there."""
    shutil.copytree(fake_settings.index, tmp_path / "index")
    return fake_settings.model_copy(update={"index": tmp_path / "index"})


@pytest.fixture
def terminal(index_copy: Settings) -> Iterator[type[Terminal]]:
    """Starts sessions over ``index_copy``; every one still running at the end is killed."""
    started: list[Terminal] = []
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CITEBOT_")},
        "CITEBOT_MODEL": FAKE_MODEL,
        "CITEBOT_DOCUMENTS": str(index_copy.documents),
        "CITEBOT_INDEX": str(index_copy.index),
        "CITEBOT_TEST_SLOW_WORD": "slowly",
        "HF_HUB_OFFLINE": "1",
        "TERM": "dumb",
        "COLUMNS": "100",
    }

    class Started(Terminal):
        def __init__(self, *args: str) -> None:
            super().__init__(list(args), env)
            started.append(self)

    yield Started
    for session in started:
        session.close()


def test_a_session_answers_follows_up_explains_cancels_and_ends_on_ctrl_d(
    terminal: type[Terminal], index_copy: Settings
) -> None:
    session = terminal("ask")
    session.expect(PROMPT)
    first = session.ask(FAKE_ANSWERABLE)
    assert "[1] " in first and "Russia has denied the allegations" in first
    assert "Why:" not in first
    follow_up = session.ask(FOLLOW_UP)
    assert "[1] " in follow_up or "The sources don't cover this." in follow_up
    explained = session.ask("explain")
    assert f"Read as a follow-up of: {FAKE_ANSWERABLE}" in explained
    assert "Why: " in explained and "Passages retrieved (" in explained and "Sentences judged (" in explained

    session.type("who said it slowly?\n")
    session.expect("working")
    session.type("\x03")  # Ctrl-C: the terminal sends SIGINT to the session
    assert "Cancelled." in session.expect(PROMPT)
    after = session.ask(FAKE_ANSWERABLE)
    assert "Russia has denied the allegations" in after, "the session goes on after a cancelled answer"

    session.type("\x04")  # Ctrl-D
    assert session.exit_code() == 0
    history = (index_copy.index / HISTORY_FILE).read_text(encoding="utf-8").splitlines()
    assert history[:3] == [FAKE_ANSWERABLE, FOLLOW_UP, "explain"]
    assert (index_copy.index / HISTORY_FILE).stat().st_mode & 0o077 == 0, "questions are this user's only"


def test_a_session_with_explain_recalls_the_last_session_and_ends_on_exit(
    terminal: type[Terminal], index_copy: Settings
) -> None:
    (index_copy.index / HISTORY_FILE).write_text(f"{FAKE_ANSWERABLE}\n", encoding="utf-8")
    session = terminal("ask", "--explain")
    session.expect(PROMPT)
    session.type("\x10")  # Ctrl-P: the question before, from the history file
    recalled = session.ask("")
    assert "Russia has denied the allegations" in recalled
    assert re.search(r"Why: answered: \d\.\d\d ≥ 0\.26", recalled)
    assert "Threshold: 0.26, from bot/read/thresholds.json (first_cut)" in recalled
    abstained = session.ask("How do I bake sourdough bread?")
    assert "The sources don't cover this." in abstained
    assert re.search(r"Why: abstained: best \d\.\d\d < 0\.26, from \S+", abstained)
    session.type("exit\n")
    assert session.exit_code() == 0


@pytest.fixture
def piped(hashing_model: str, index_copy: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in [name for name in os.environ if name.startswith("CITEBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CITEBOT_MODEL", hashing_model)
    monkeypatch.setenv("CITEBOT_DOCUMENTS", str(index_copy.documents))
    monkeypatch.setenv("CITEBOT_INDEX", str(index_copy.index))
    return CliRunner()


def test_piped_questions_without_json_are_answered_in_order_one_readable_block_each(piped: CliRunner) -> None:
    questions = f"{FAKE_ANSWERABLE}\n\nHow do I bake sourdough bread?\n   \n" + "x" * 5000 + "\n"
    result = piped.invoke(main, ["ask"], input=questions)
    assert result.exit_code == 0, result.output
    blocks = result.stdout.split("\n\n> ")
    assert len(blocks) == 3
    assert blocks[0].startswith(f"> {FAKE_ANSWERABLE}\n[1] ") and f"**{FAKE_ANSWERABLE}" in blocks[0]
    assert blocks[1] == "How do I bake sourdough bread?\nThe sources don't cover this."
    assert blocks[2].startswith("x" * 100) and "citebot: The question is 5,000 characters long" in blocks[2]


def test_piped_questions_with_json_stay_one_json_line_each(piped: CliRunner) -> None:
    import json

    result = piped.invoke(main, ["ask", "--json"], input=f"{FAKE_ANSWERABLE}\nHow do I bake sourdough bread?\n")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["question"], r["answered"]) for r in records] == [
        (FAKE_ANSWERABLE, True),
        ("How do I bake sourdough bread?", False),
    ]
    assert all(set(record) == {"question", "answered", "citations"} for record in records)


@pytest.mark.parametrize(
    ("question", "follows"),
    [
        ("and how many were wounded?", True),
        ("What about the wounded?", True),
        ("who denied it?", True),
        ("what did they say?", True),
        ("Who denied the Wagner claims?", False),
        ("How many people were killed in the crane collapse?", False),
        ("Android and iPhone sales", False),
    ],
)
def test_a_follow_up_opens_with_a_joining_word_or_points_back(question: str, follows: bool) -> None:
    assert is_follow_up(question) is follows
