"""Model engines (synchronous, no NATS) and the model actors that serve them."""
