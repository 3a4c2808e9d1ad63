"""Who sent a command, as the platform vouches for them.

Adapters build an ``Actor`` from what the platform says about the person
(Slack: user id, and whether they are a workspace admin or owner; Discord:
user id, and whether they hold the configured manage permission in that
channel). The core decides what that person may do (``bot.core.permissions``)
and names them when a change is announced; an adapter never decides.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    #: The platform's id for the person (Slack ``U…``, a Discord snowflake, ``local``).
    user_id: str
    #: How the change announcement names them; empty: by id only.
    name: str = ""
    #: A workspace admin or owner (Slack), or a holder of the configured manage
    #: permission (Discord), or the person at the terminal (console).
    is_admin: bool = False


#: The person at a terminal: it is their own radar.
LOCAL = Actor("local", "you", is_admin=True)
