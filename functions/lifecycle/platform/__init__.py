"""What every stage stands on: typed settings, the composition root, the handler kit."""
