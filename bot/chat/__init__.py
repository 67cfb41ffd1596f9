"""The Discord bot: translates between Discord and the same ask() the command line calls."""
