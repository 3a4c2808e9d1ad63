"""Relevance: what a channel wants, learned from its likes, used to order its radar.

Chips decide what is on a radar; this package decides the order inside it.
The flow, one module per step:

- :mod:`.tfidf`, :mod:`.idf`: hashed TF-IDF with a fixed, shipped IDF table,
  so a vector means the same on every day;
- :mod:`.embed`: dense embeddings (bundled offline WordLlama, or an
  OpenAI-compatible ``/v1/embeddings`` server);
- :mod:`.represent`, :mod:`.vectors`: both vectors of a paper, computed once at
  harvest, stored as bytes and rebuilt when the model changes;
- :mod:`.model`: one channel's linear model from its likes, dislikes, ignored
  cards and radar pool;
- :mod:`.scoring`: many channels stacked, scored in one product per space;
- :mod:`.similar`: the like-chip watch and nearest liked paper;
- :mod:`.reasons`: the card's one-line "why".

Nothing here imports the store, a platform SDK or an HTTP framework (the
embeddings client, WordLlama and scikit-learn are only loaded on first use).
"""

from bot.relevance.embed import Embedder, OpenAIEmbedder, WordLlamaEmbedder, make_embedder
from bot.relevance.model import ChannelModel, Feedback, fit
from bot.relevance.reasons import card_reasons, reason_line
from bot.relevance.represent import Representer
from bot.relevance.scoring import ChannelMatrix, order
from bot.relevance.similar import Nearest, WatchHit, like_watch, nearest, similarity
from bot.relevance.vectors import PaperVectors, stale

__all__ = [
    "ChannelMatrix",
    "ChannelModel",
    "Embedder",
    "Feedback",
    "Nearest",
    "OpenAIEmbedder",
    "PaperVectors",
    "Representer",
    "WatchHit",
    "WordLlamaEmbedder",
    "card_reasons",
    "fit",
    "like_watch",
    "make_embedder",
    "nearest",
    "order",
    "reason_line",
    "similarity",
    "stale",
]
