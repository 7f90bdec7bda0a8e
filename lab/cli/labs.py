"""CLI verbs (placeholder until the owning stage lands)."""

COMMANDS: list = []
