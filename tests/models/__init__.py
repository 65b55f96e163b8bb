"""Tests of the model engines (``actors.models``)."""
