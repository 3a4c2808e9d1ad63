"""Alembic environment for the store (see ``bot.store.migrate``); revisions in ``versions/``."""
