"""Units of work: one transaction each, and database faults told in one line.

Every repository of ``bot.store`` opens its transactions here, so a fault of
the database itself reads the same whichever table was being touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from bot.errors import StoreError
from bot.store.db import explain, make_sessionmaker


class Units:
    """Opens units of work on one engine (shared by every repository of a ``Store``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = make_sessionmaker(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed whole, or rolled back whole.

        A fault of the database itself (disk full, read-only file, server gone)
        becomes a ``StoreError`` whose message says what failed, where (the
        password masked) and what to do, so every entry point reports it in
        one line; constraint violations and SQL mistakes stay what they are
        (bugs, not conditions a person can fix).
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except DBAPIError as exc:
            with suppress(Exception):  # a dead connection cannot roll back either
                session.rollback()
            if isinstance(exc, OperationalError | ProgrammingError) and (
                "no such table" in str(exc) or "does not exist" in str(exc)
            ):
                raise StoreError(
                    "The database has no Paper Radar tables yet: run `paper-radar db upgrade`."
                ) from exc
            if isinstance(exc, IntegrityError | ProgrammingError) or exc.orig is None:
                raise
            raise StoreError(explain(exc, self.engine.url)) from exc
        except BaseException:
            with suppress(Exception):
                session.rollback()
            raise
        finally:
            session.close()
