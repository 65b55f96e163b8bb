"""Actor runtime and actors (session, model workers)."""
