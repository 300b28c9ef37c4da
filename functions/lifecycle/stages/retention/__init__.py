"""Retention: win-back sequences, loyalty tier-ups and heavy-user appreciation."""
