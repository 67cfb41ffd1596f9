"""Progress of a long step on stderr: a bar naming its unit on a terminal; else, for logs and redirected
output, a line every 10 % or 10 seconds, so a first build of 80-100 s is never silent."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

LINE_EVERY_SHARE = 0.10
LINE_EVERY_SECONDS = 10.0


class Progress(Protocol):
    def update(self, count: int) -> object: ...


class ProgressLines:
    """Writes ``Embedding: 512 of 1,530 sentences (33 %), 12 s`` when another 10 % is done or 10 s have
    passed. A step that ends within its first report and its first 10 s writes nothing: the closing
    summary says enough."""

    def __init__(
        self, total: int, what: str, unit: str, stream: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total, self.what, self.unit, self.stream, self.clock = total, what, unit, stream, clock
        self.done = 0
        self.started = self.last_time = clock()
        self.last_share = 0.0
        self.lines = 0

    def update(self, count: int) -> None:
        self.done = min(self.done + count, self.total)
        now = self.clock()
        share = self.done / self.total if self.total else 1.0
        due = share - self.last_share >= LINE_EVERY_SHARE - 1e-9 or now - self.last_time >= LINE_EVERY_SECONDS
        finished_at_once = not self.lines and share >= 1.0 and now - self.started < LINE_EVERY_SECONDS
        if not due or finished_at_once:
            return
        self.last_share, self.last_time = share, now
        self.lines += 1
        self.stream.write(
            f"{self.what}: {self.done:,} of {self.total:,} {self.unit} ({share:.0%}), {now - self.started:.0f} s\n"
        )
        self.stream.flush()


class _Silent:
    def update(self, count: int) -> None:
        """Nothing is shown."""


@contextmanager
def progress(total: int, what: str, unit: str, shown: bool, stream: TextIO | None = None) -> Iterator[Progress]:
    """Something with ``update(count)``: a tqdm bar when ``stream`` (stderr) is a terminal, progress lines
    when it is not, nothing when ``shown`` is false (tests, the Discord bot's rebuilds)."""
    stream = stream or sys.stderr
    if not shown or not total:
        yield _Silent()
        return
    if not stream.isatty():
        yield ProgressLines(total, what, unit, stream)
        return
    from tqdm import tqdm

    bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + unit + " [{elapsed}<{remaining}]"
    with tqdm(total=total, desc=what, bar_format=bar_format, file=stream) as bar:
        yield bar
