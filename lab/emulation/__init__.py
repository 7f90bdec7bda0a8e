"""(stage package; see lab/__init__.py)."""
