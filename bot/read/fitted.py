"""Reading the read stage's fitted files (``linear.json``, ``thresholds.json``): one way to fail."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bot.errors import ModelError


def read_fitted(path: Path, what: str, hint: str) -> object:
    """The JSON in ``path``; missing or unreadable is one ModelError line naming ``what`` and the fix."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"The {what} {path.name} is missing. {hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"The {what} {path.name} is damaged ({error}). {hint}") from None


def is_number(value: object) -> bool:
    """A finite JSON number (not a bool, not NaN or infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
