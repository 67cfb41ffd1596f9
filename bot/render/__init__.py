"""Pure functions of an Answer: terminal text, JSON, Discord message parts."""
