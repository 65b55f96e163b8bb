"""NATS: connection, subject names, message types, JetStream provisioning, job requests,
the worker loop and the embedded nats-server. Uses neither ``persistence`` nor ``actors``."""
