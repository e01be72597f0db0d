"""Synthetic sample data (no real person's records) and the generator that produces it."""
