"""Alembic migration scripts; run them with :mod:`postback.storage.migrate`."""
