"""Who may use a command: the checks that commands changing the collection share."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from discord import app_commands

P = ParamSpec("P")
T = TypeVar("T")


def for_managers(command: Callable[P, T]) -> Callable[P, T]:
    """Servers only; hidden from, and refused to, members without Manage Server."""
    command = app_commands.guild_only()(command)
    command = app_commands.checks.has_permissions(manage_guild=True)(command)
    return app_commands.default_permissions(manage_guild=True)(command)
