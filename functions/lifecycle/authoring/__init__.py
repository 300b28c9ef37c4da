"""Tools for the people who write templates: sample data, lint and preview."""
