"""Terminal text by what a terminal shows: escape codes take no columns, wide characters two.

``textwrap`` counts every character, so colour codes made wrapped lines ragged; and it lets a long
title or address run past the indent. Here a word longer than a line is cut across indented lines.
"""

from __future__ import annotations

import re
import unicodedata

STYLE = re.compile(r"\x1b\[[0-9;]*m")
RESET = "\033[0m"
UNDERLINE_OFF = "24"
MIN_COLUMNS = 10


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 sentence``, ``2 sentences``: the count with the word in the right number."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def visible_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: no escape codes, no combining marks, East Asian wide as two."""
    return sum(_columns(character) for character in STYLE.sub("", text))


def truncate(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` visible columns, ending in "…" where it was cut."""
    if visible_width(text) <= columns:
        return text
    return _cut(text, max(columns - 1, 1))[0].rstrip() + "…"


def wrap(text: str, width: int, indent: str = "", subsequent_indent: str | None = None) -> str:
    """The words of ``text`` in lines of at most ``width`` visible columns, indents included.

    A word longer than a line (an address, a long title word) is cut across lines instead of running
    past the width. A style still open at the end of a line is closed there and opened again after
    the next line's indent, so no underline runs under an indent.
    """
    later = indent if subsequent_indent is None else subsequent_indent
    lines: list[str] = []
    current: list[str] = []
    used = 0

    def room() -> int:
        return max(width - visible_width(later if lines else indent), MIN_COLUMNS)

    def finish() -> None:
        nonlocal current, used
        lines.append(" ".join(current))
        current, used = [], 0

    for word in text.split():
        size = visible_width(word)
        if current and used + 1 + size <= room():
            current.append(word)
            used += 1 + size
            continue
        if current:
            finish()
        while size > room():
            head, word = _cut(word, room())
            current = [head]
            finish()
            size = visible_width(word)
        if word:
            current, used = [word], size
    if current or not lines:
        finish()
    return "\n".join(_restyled(lines, indent, later))


def _cut(word: str, columns: int) -> tuple[str, str]:
    """``word`` split after ``columns`` visible columns (escape codes go with the text that follows them)."""
    used = 0
    position = 0
    while position < len(word):
        style = STYLE.match(word, position)
        if style:
            position = style.end()
            continue
        size = _columns(word[position])
        if used + size > columns and used:
            break
        used += size
        position += 1
    return word[:position], word[position:]


def _restyled(lines: list[str], indent: str, later: str) -> list[str]:
    """Each line with its indent, the styles open at its start re-opened after it, closed at its end."""
    styled: list[str] = []
    open_styles: list[str] = []
    for number, line in enumerate(lines):
        reopened = "".join(open_styles)
        for code in STYLE.findall(line):
            parameters = code[2:-1]
            if parameters in ("", "0"):
                open_styles = []
            elif parameters == UNDERLINE_OFF:
                open_styles = [style for style in open_styles if style != "\033[4m"]
            else:
                open_styles.append(code)
        closing = RESET if open_styles else ""
        styled.append(f"{indent if number == 0 else later}{reopened}{line}{closing}")
    return styled


def _columns(character: str) -> int:
    if unicodedata.combining(character):
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1
