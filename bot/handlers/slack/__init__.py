"""Paper Radar on Slack: ``SlackPoster`` (posting) and ``SlackAdapter`` (the app).

``bot.handlers.slack.poster`` imports only slack_sdk, for code that just posts
(the scheduler); ``bot.handlers.slack.adapter`` adds slack-bolt. The rest is
one concern a module: ``credentials``, ``http`` (HTTP mode's hardened
endpoint), ``socket`` (Socket Mode's connection policy), ``people`` (who sent
an event), ``replier`` (the poster for one event), ``text`` (Slack's wire
format).
"""

from bot.handlers.slack.adapter import SlackAdapter
from bot.handlers.slack.credentials import SlackCredentials
from bot.handlers.slack.poster import SlackPoster, SlackPostError, make_client

__all__ = ["SlackAdapter", "SlackCredentials", "SlackPostError", "SlackPoster", "make_client"]
