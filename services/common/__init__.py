"""Contracts shared by every rtad service: schema, streams, encoding, settings, Redis."""
