"""Postgres persistence: the pool, migrations, snapshots, transcripts, reports and the
pgvector chunk store. Uses neither ``bus`` nor ``actors``."""
