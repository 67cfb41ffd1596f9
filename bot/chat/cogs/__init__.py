"""Discord cogs: app commands, listeners and buttons. They translate; ``Engine.ask`` does the work."""
