"""Adapters: translate platform events into core commands, and replies into messages.

Each adapter stays thin; rendering a neutral ``Reply`` for a platform lives in
its ``render_*`` module, which is plain data-in, data-out and easy to test.
"""
