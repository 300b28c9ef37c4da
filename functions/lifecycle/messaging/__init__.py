"""The one message path: model, contact policy, ledger protocol, renderer, dispatcher."""
