"""Discord cogs: app commands, listeners and buttons. They translate; the ``Library`` does the work."""
