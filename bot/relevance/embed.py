"""Dense embeddings of paper text: offline WordLlama by default, or any
OpenAI-compatible ``/v1/embeddings`` server by configuration.

Why two: the daily run must work on a plain CPU with what ``pip install``
brought, with no model download and no model call (WordLlama ships its
256-dimensional weights inside its wheel and embeds about a thousand abstracts
a second here). A team with an Ollama or vLLM server may prefer a stronger
model; the contract is the same: ``embed(texts)`` returns float32 rows of unit
length, and ``model_id`` names the model so stored vectors are rebuilt when it
changes (vectors of two models are never compared).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.errors import ConfigError, UpstreamError
from bot.settings import RelevanceSettings

log = logging.getLogger(__name__)

#: WordLlama's bundled model and its dimension.
WORDLLAMA_CONFIG, WORDLLAMA_DIM = "l2_supercat", 256


class Embedder(Protocol):
    """Text in, unit-length float32 rows out; ``model_id`` names the vector space."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 with every row scaled to length 1 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


_SAFETENSORS_DTYPES = {"F16": "<f2", "F32": "<f4"}


def mapped_tensor(path: Path, name: str) -> np.ndarray:
    """Tensor ``name`` of a ``.safetensors`` file, memory-mapped read-only.

    The format is an 8-byte little-endian header length, a JSON header giving
    each tensor's dtype, shape and byte range, then the raw data. Mapping the
    range costs no copy (the ``safetensors`` package reads the file and then
    copies it into an array: two allocations of its size, one kept), the pages
    are read in as tokens use them, and several bot processes on one machine
    share them through the page cache.
    """
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        entry = json.loads(f.read(size))[name]
    dtype = np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]])
    shape = tuple(int(n) for n in entry["shape"])
    begin, end = (int(n) for n in entry["data_offsets"])
    if end - begin != dtype.itemsize * int(np.prod(shape)):
        raise ValueError(f"{path.name}: {name} has {end - begin} bytes for shape {shape}")
    return np.memmap(path, dtype=dtype, mode="r", offset=8 + size + begin, shape=shape).view(
        np.ndarray
    )


class WordLlamaModel:
    """WordLlama's inference, lean: BPE tokens, then the mean of their vectors.

    This is ``wordllama.WordLlamaInference.embed`` (tokenize without special
    tokens, clamp ids into the vocabulary, average the token vectors) over the
    same tokenizer and weight files of the wheel, with two differences that only
    change memory, never a vector (a test compares the two on real abstracts):

    - the token table stays float16 as shipped, memory-mapped from the wheel's
      file (:func:`mapped_tensor`; at most 16 MiB, instead of the 32 MiB
      float32 copy WordLlama makes after reading it): each text's rows are
      widened to float32 before summing, which is exact, and summed in the
      same order;
    - texts are summed one at a time, without padding a batch to its longest
      text (WordLlama allocates ``batch x longest x 256`` float32 twice per
      batch: about 60 MiB for 64 abstracts).

    And it does not import the ``wordllama`` package, whose import pulls in
    ``requests``, its training configuration and compiled clustering helpers
    (about 23 MiB), and calls ``logging.basicConfig`` (a library should not).
    """

    def __init__(self, tokenizer: Any, weights: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.weights = weights  # (vocabulary, dim) float16, read-only
        self.dim = int(weights.shape[1])

    @classmethod
    def bundled(cls) -> WordLlamaModel:
        """The files the ``wordllama`` wheel ships, read from its folder, so
        nothing is ever downloaded (WordLlama's own loader looks its tokenizer up
        in a folder its wheel does not have and then tries the network)."""
        spec = importlib.util.find_spec("wordllama")  # finds, does not import
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError("the wordllama package is not installed; pip install paper-radar")
        folder = Path(next(iter(spec.submodule_search_locations)))
        weights_file = folder / "weights" / f"{WORDLLAMA_CONFIG}_{WORDLLAMA_DIM}.safetensors"
        tokenizer_file = folder / "tokenizers" / f"{WORDLLAMA_CONFIG}_tokenizer_config.json"
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            weights = mapped_tensor(weights_file, "embedding.weight")
        except Exception as err:  # missing or unreadable files: the library's many errors
            raise ConfigError(f"the bundled WordLlama model could not be loaded: {err}") from err
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(tokenizer, weights)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Mean token vector of each text, float32 (not normalised)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        top = self.weights.shape[0] - 1
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            encoded = self.tokenizer.encode_batch(chunk, add_special_tokens=False)
            for k, enc in enumerate(encoded):
                ids = np.clip(np.asarray(enc.ids, dtype=np.int64), 0, top)
                if len(ids):
                    rows = self.weights[ids].astype(np.float32)
                    out[start + k] = rows.sum(axis=0, dtype=np.float32) / np.float32(len(ids))
        return out


_WORDLLAMA: list[WordLlamaModel] = []  # the one loaded model (read-only, so shared)
_WORDLLAMA_LOCK = threading.Lock()


def _load_wordllama() -> WordLlamaModel:
    """The bundled model, loaded once per process, on first use."""
    with _WORDLLAMA_LOCK:
        if not _WORDLLAMA:
            _WORDLLAMA.append(WordLlamaModel.bundled())
        return _WORDLLAMA[0]


#: Mean of WordLlama's unit vectors over the IDF corpus (see :mod:`.idf`).
WORDLLAMA_MEAN = Path(__file__).with_name("data") / "wordllama_mean.npy"


class WordLlamaEmbedder:
    """WordLlama ``l2_supercat`` (a token-embedding average), offline and CPU-only.

    Averaged word vectors share one large common direction (every abstract is
    "about" research), so raw cosines between any two papers are high and
    barely discriminate. Subtracting the corpus mean, shipped with the package
    and fixed like the IDF table, removes it: on the benchmark's research-group
    tasks this alone lifts embedding-cosine NDCG@10 from about 0.24 to 0.28.

    The model is loaded on the first ``embed``, not here: building the bot (and
    every command that never represents a paper) does not pay its memory.
    """

    def __init__(self, batch_size: int = 64, *, center: bool = True) -> None:
        self.dim = WORDLLAMA_DIM
        self.batch_size = batch_size
        self._mean: np.ndarray | None = None
        self.model_id = f"wordllama/{WORDLLAMA_CONFIG}-{self.dim}"
        if center:
            self._mean = np.load(WORDLLAMA_MEAN).astype(np.float32)
            self.model_id += f"-c{hashlib.sha256(self._mean.tobytes()).hexdigest()[:8]}"

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors before centring (what the mean is computed from)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sorting by length keeps each tokenizer batch's texts alike in size.
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]))
        rows = _load_wordllama().embed([texts[k] for k in order], batch_size=self.batch_size)
        out = np.empty_like(rows)
        out[order] = rows
        return unit_rows(out)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = self.raw(texts)
        if self._mean is None or not len(rows):
            return rows
        return unit_rows(rows - self._mean)


class OpenAIEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` server (OpenAI, Ollama, vLLM ...).

    Uses the ``openai`` client the bot already has for chat, with the base URL,
    model and key variable of ``[relevance]``; requests go in batches, and a
    failure after the client's retries is an ``UpstreamError`` (the harvest keeps
    the papers and embeds them on a later pass).
    """

    def __init__(self, settings: RelevanceSettings, api_key: str | None = None) -> None:
        if not settings.embedding_model:
            raise ConfigError("[relevance] embedding_model is required for the openai embedder")
        self.dim = 0  # known after the first answer
        self.batch_size = max(1, settings.embedding_batch)
        self.model = settings.embedding_model
        self.model_id = f"openai/{settings.embedding_model}"
        self._settings, self._api_key = settings, api_key
        self._client: Any = None  # made on the first embed (``openai`` is a heavy import)
        self._lock = threading.Lock()

    def _sdk(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                s = self._settings
                self._client = openai.OpenAI(
                    base_url=s.embedding_base_url or None,
                    api_key=self._api_key or "unused",  # local servers ignore it; the SDK insists
                    timeout=s.embedding_timeout_seconds,
                    max_retries=s.embedding_max_retries,
                )
            return self._client

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        client = self._sdk()
        import openai  # imported by ``_sdk``

        chunks: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                answer = client.embeddings.create(
                    model=self.model, input=batch, encoding_format="float"
                )
            except openai.OpenAIError as err:
                raise UpstreamError(
                    f"the embeddings server did not answer ({type(err).__name__})"
                ) from err
            data = sorted(answer.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise UpstreamError(
                    f"the embeddings server returned {len(data)} vectors for {len(batch)} texts"
                )
            chunks.append(np.asarray([d.embedding for d in data], dtype=np.float32))
        rows = np.vstack(chunks)
        if self.dim and rows.shape[1] != self.dim:
            raise UpstreamError("the embeddings server changed its vector size mid-run")
        self.dim = rows.shape[1]
        return unit_rows(rows)


def make_embedder(settings: RelevanceSettings, api_key: str | None = None) -> Embedder:
    """The embedder ``settings`` names (``wordllama`` or ``openai``)."""
    if settings.embedder == "wordllama":
        return WordLlamaEmbedder(batch_size=settings.embedding_batch)
    if settings.embedder == "openai":
        return OpenAIEmbedder(settings, api_key=api_key)
    raise ConfigError(
        f"[relevance] embedder must be 'wordllama' or 'openai', not {settings.embedder!r}"
    )
