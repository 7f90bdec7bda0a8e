"""Renderers of a run: ladder diagrams (text), reports."""
