"""Per-person pacing: a question asked too soon waits its turn instead of being lost."""

from __future__ import annotations

import time

MAX_PEOPLE = 10_000


class Cooldown:
    """At most one question per ``seconds`` per person, and at most one more waiting for its turn."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next: dict[int, float] = {}
        self._waiting: set[int] = set()

    def wait(self, user_id: int, now: float | None = None) -> float:
        """0 if the person may act now (and it is counted), else the seconds left; nothing is booked."""
        now = time.monotonic() if now is None else now
        free_at = self._next.get(user_id, now)
        if free_at > now:
            return free_at - now
        self._book(user_id, now + self.seconds, now)
        return 0.0

    def queue(self, user_id: int, now: float | None = None) -> float | None:
        """Seconds until this person's question may be asked (0: now), booking that turn; None when
        a question of theirs already waits, so a flood never piles up. Call ``done_waiting`` after."""
        now = time.monotonic() if now is None else now
        free_at = self._next.get(user_id, now)
        if free_at <= now:
            self._book(user_id, now + self.seconds, now)
            return 0.0
        if user_id in self._waiting:
            return None
        self._waiting.add(user_id)
        self._book(user_id, free_at + self.seconds, now)
        return free_at - now

    def done_waiting(self, user_id: int) -> None:
        self._waiting.discard(user_id)

    def _book(self, user_id: int, free_at: float, now: float) -> None:
        self._next[user_id] = free_at
        if len(self._next) > MAX_PEOPLE:
            self._next = {user: at for user, at in self._next.items() if at > now}
