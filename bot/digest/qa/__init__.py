"""Questions about one paper, asked in the thread under its card.

The answer is grounded in the paper, never in the model's memory. One concern
per module, in the order an answer is made:

* :mod:`~bot.digest.qa.passages`: the abstract and, when it could be fetched,
  the full text as numbered passages (``[P1]`` is the abstract), and BM25
  retrieval of the ones that match the question and the thread;
* :mod:`~bot.digest.qa.prompt`: the model's prompt (the abstract, the best
  passages, the earlier turns) and the checks on its answer (citations to
  passages it was not shown are removed);
* :mod:`~bot.digest.qa.extractive`: the answer without a model: the best
  passages' matching sentences, quoted and labelled, or a plain "the paper
  does not say";
* :mod:`~bot.digest.qa.reply`: the reply in the thread, the model's when it
  can, else extractive with a note saying why.

The shared text primitives (sentences, index terms, BM25) are in
:mod:`bot.digest.extract`. The names the service calls are re-exported here;
everything else is imported from its own module.
"""

from __future__ import annotations

from bot.digest.qa.reply import answer, answer_text

__all__ = ["answer", "answer_text"]
