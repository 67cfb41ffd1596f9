"""`citebot ...`: the command line. Each module holds a few commands; this one puts them in the group."""

from bot.cli.commands import add, ask, discord, evaluate, feedback, index, stats
from bot.cli.feeds import feeds, follow, gaps, unfollow, update
from bot.cli.group import main

for command in (index, ask, add, follow, unfollow, feeds, update, gaps, stats, evaluate, discord, feedback):
    main.add_command(command)

__all__ = ["main"]
