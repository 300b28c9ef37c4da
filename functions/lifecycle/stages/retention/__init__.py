"""Retention: win-back, loyalty tier-ups and heavy-user appreciation, from the daily run."""
