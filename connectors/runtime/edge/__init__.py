"""The deployable edge agent: vibration window features from a real sample stream, published
through a store-and-forward buffer (``python -m connectors.edge``)."""
