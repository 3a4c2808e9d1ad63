"""Adapters: translate platform events into core calls, and messages into the platform's.

Each platform's adapter turns an event into one call of the front door
(``bot.dispatch``) and posts what comes back through the one delivery path
(``bot.digest.deliver``) with its ``Poster``; it decides nothing. Drawing one
message for a platform lives in its ``render_*`` module, which is plain
data-in, data-out and easy to test. The console adapter is the same flow in
a terminal, and the tests' reference fake for it.
"""
