"""Contracts shared by every service: schema, key names, encodings, settings, Redis, readers."""
