"""Paper Radar on Slack: ``SlackPoster`` (digest delivery) and ``SlackAdapter`` (the app).

``bot.handlers.slack.poster`` imports only slack_sdk, for code that just posts
(the scheduler); ``bot.handlers.slack.adapter`` adds slack-bolt.
"""

from bot.handlers.slack.adapter import SlackAdapter, SlackCredentials
from bot.handlers.slack.poster import SlackPoster, SlackPostError, make_client

__all__ = ["SlackAdapter", "SlackCredentials", "SlackPostError", "SlackPoster", "make_client"]
