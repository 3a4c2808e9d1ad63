"""Paper Radar: a shared literature radar for research teams, in their chat.

The flow reads top to bottom in the tree: ``sources`` fetch papers, ``store``
keeps them, ``core`` parses commands and matches papers to radars, ``digest``
turns matches into numbered cards, and ``handlers`` put cards on a platform.
"""

__version__ = "0.1.0"
