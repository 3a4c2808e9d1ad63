"""Persistence: SQLAlchemy 2 models, engine set-up, migrations, and ``Store``.

The rest of the bot reaches the database only through ``bot.store.repo.Store``;
models stay an implementation detail of this package.
"""
