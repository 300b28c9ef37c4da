"""Retention: win-back sequences, loyalty rewards and heavy-user appreciation."""
