"""Persistence: SQLAlchemy 2 models, engine set-up, migrations, and ``Store``.

The rest of the bot reaches the database only through ``bot.store.repo.Store``,
a facade over repositories of one concern each (``channels``, ``runs``,
``harvests``, ``modelcache``) that share one engine and its units of work
(``unit``); models stay an implementation detail of this package.
"""
