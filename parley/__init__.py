"""Parley: config and the CLI that composes the roles (edge, session, model actors) into a
running node."""
