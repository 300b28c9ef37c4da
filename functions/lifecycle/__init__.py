"""Customer-lifecycle messaging: one message path for every lifecycle stage."""
