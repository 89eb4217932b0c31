"""First-stage vectors: one vector per point, in an HNSW index, that fetches candidates for MaxSim.

Two kinds, each computed from a point's multivector of one size (``source``, the
largest colbert-viz writes):

- ``pooled``: the mean of the unit token vectors, cosine (the simple baseline);
- ``muvera``: a MUVERA fixed-dimensional encoding by FastEmbed's ``Muvera``
  (``fastembed`` 0.9.1, ``fastembed.postprocess.muvera``): SimHash partitions, random
  projections; the query and document encodings' dot product approximates MaxSim.

The settings live in the vector's name, so a collection says how its first stage was
made and a query is encoded the same way: ``first-pooled-128``,
``first-muvera-128-k4-p8-r8-s42`` (source size, ``k_sim``, ``dim_proj``, ``r_reps``,
``random_seed``); size ``r_reps × 2**k_sim × dim_proj``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from colbert_viz.collections.backends import CollectionSettingsError, VectorSpec

KINDS = ("pooled", "muvera")
FIRST_STAGE_M = 16  # HNSW degree of a first-stage vector (Qdrant's default)
MAX_CANDIDATES = 10_000  # candidates one two-stage search may fetch
_NAME = re.compile(r"^first-(pooled|muvera)-(\d+)(?:-k(\d+)-p(\d+)-r(\d+)-s(\d+))?$")


@dataclass(frozen=True)
class MuveraParams:
    """FastEmbed ``Muvera``'s parameters: ``k_sim`` SimHash bits (2**k_sim partitions),
    ``dim_proj`` dimensions per partition, ``r_reps`` repetitions, ``seed``."""

    k_sim: int = 4
    dim_proj: int = 8
    r_reps: int = 8
    seed: int = 42

    def size(self) -> int:
        return self.r_reps * 2 ** self.k_sim * self.dim_proj

    @classmethod
    def parse(cls, text: str) -> MuveraParams:
        """``"K,P,R,SEED"`` → params; ``ValueError`` with one line otherwise.

        >>> MuveraParams.parse("4,8,8,42")
        MuveraParams(k_sim=4, dim_proj=8, r_reps=8, seed=42)
        """
        parts = text.split(",")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"MUVERA parameters are four whole numbers K_SIM,DIM_PROJ,R_REPS,SEED; got {text!r}")
        k, p, r, s = (int(x) for x in parts)
        if not (1 <= k <= 8 and p >= 1 and 1 <= r <= 64):
            raise ValueError(f"MUVERA parameters out of range (k_sim 1-8, dim_proj ≥ 1, r_reps 1-64): {text!r}")
        return cls(k, p, r, s)


@dataclass(frozen=True)
class FirstStage:
    """A first-stage vector: its ``kind``, the ``source`` multivector size it is computed from,
    and the MUVERA ``params`` (``None`` for pooled)."""

    kind: str
    source: int
    params: MuveraParams | None = None

    @property
    def name(self) -> str:
        if self.params is None:
            return f"first-pooled-{self.source}"
        p = self.params
        return f"first-muvera-{self.source}-k{p.k_sim}-p{p.dim_proj}-r{p.r_reps}-s{p.seed}"

    def spec(self) -> VectorSpec:
        if self.params is None:
            return VectorSpec(self.name, self.source, "cosine", None)
        return VectorSpec(self.name, self.params.size(), "dot", None)

    def settings(self) -> dict:
        """What the CLI and the page show of it."""
        out = {"kind": self.kind, "vector": self.name, "source_size": self.source}
        if self.params is not None:
            out.update(k_sim=self.params.k_sim, dim_proj=self.params.dim_proj, r_reps=self.params.r_reps,
                       seed=self.params.seed)
        return out

    def document(self, vectors: np.ndarray) -> np.ndarray:
        """A document's first-stage vector from its token vectors (n_tokens, source) → (size,)."""
        unit = _unit(vectors)
        if self.params is None:
            return unit.mean(axis=0).astype(np.float32)
        return _muvera(self.source, self.params).process_document(unit.astype(np.float64)).astype(np.float32)

    def query(self, vectors: np.ndarray) -> np.ndarray:
        """The query's first-stage vector from its token vectors (n_tokens, source) → (size,)."""
        unit = _unit(vectors)
        if self.params is None:
            return unit.mean(axis=0).astype(np.float32)
        return _muvera(self.source, self.params).process_query(unit.astype(np.float64)).astype(np.float32)

    def similarity(self, query: np.ndarray, document: np.ndarray) -> float:
        """The first stage's score as Qdrant computes it (cosine for pooled, dot for MUVERA)."""
        if self.params is None:
            return float(_unit(query[None])[0] @ _unit(document[None])[0])
        return float(np.dot(query.astype(np.float64), document.astype(np.float64)))


def make(kind: str, source: int, params: MuveraParams | None = None) -> FirstStage:
    """The first stage ``kind`` computed from the multivector of size ``source``."""
    if kind not in KINDS:
        raise ValueError(f"first stage must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "pooled":
        return FirstStage("pooled", source)
    params = params or MuveraParams()
    if params.dim_proj > source:
        raise ValueError(f"MUVERA dim_proj {params.dim_proj} is larger than the vectors' size {source}")
    _muvera(source, params)  # fastembed missing: refused here, before a collection is created
    return FirstStage("muvera", source, params)


def parse(name: str) -> FirstStage | None:
    """The first stage a vector name describes, ``None`` for any other vector.

    >>> parse("first-muvera-128-k4-p8-r8-s42").params
    MuveraParams(k_sim=4, dim_proj=8, r_reps=8, seed=42)
    >>> parse("colbert-128") is None
    True
    """
    match = _NAME.match(name)
    if not match:
        return None
    kind, source, *rest = match.groups()
    if kind == "pooled":
        return None if any(rest) else FirstStage("pooled", int(source))
    if not all(rest):
        return None
    return FirstStage("muvera", int(source), MuveraParams(*(int(x) for x in rest)))


def stages(specs: dict[str, VectorSpec]) -> list[FirstStage]:
    """The collection's first stages (single vectors named as ``parse`` reads, of the size their name implies)."""
    found = []
    for spec in specs.values():
        stage = parse(spec.name)
        if stage is not None and spec.comparator is None and spec.size == stage.spec().size:
            found.append(stage)
    return found


def choose(specs: dict[str, VectorSpec], kind: str, where: str, params: MuveraParams | None = None) -> FirstStage:
    """The collection's first stage of ``kind``; ``CollectionSettingsError`` when it has none, or
    when ``params`` (asked by the caller) differ from the ones the collection's MUVERA vector used."""
    if kind not in KINDS:
        raise ValueError(f"first stage must be one of {', '.join(KINDS)} (or none for the exact search); got {kind!r}")
    have = [s for s in stages(specs) if s.kind == kind]
    if not have:
        offered = ", ".join(s.kind for s in stages(specs)) or "none"
        raise CollectionSettingsError(
            f"{where} has no {kind} first stage (it has: {offered}): search it exactly (first stage: none), or "
            "give it one with `colbert-viz first-stage`")
    if params is not None:
        same = [s for s in have if s.params == params]
        if not same:
            made = "; ".join(_describe(s.params) for s in have)
            raise CollectionSettingsError(f"{where}'s MUVERA vector was made with {made}, the query asks for "
                                          f"{_describe(params)}: query with the collection's parameters")
        return same[0]
    return max(have, key=lambda s: s.source)


def check_candidates(candidates: int, top_k: int, points: int | None = None) -> int:
    """``candidates`` when ``top_k ≤ candidates ≤ MAX_CANDIDATES``; ``ValueError`` otherwise."""
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < top_k:
        raise ValueError(f"the candidate count must be a whole number of at least top k ({top_k}); got {candidates!r}")
    if candidates > MAX_CANDIDATES:
        raise ValueError(f"the candidate count is at most {MAX_CANDIDATES:,}; got {candidates:,} "
                         "(for more, search exactly)")
    return candidates


def available() -> tuple[str, ...]:
    """The first stages this installation can compute: MUVERA needs fastembed."""
    try:
        import fastembed.postprocess.muvera  # noqa: F401
    except ImportError:
        return ("pooled",)
    return KINDS


def _describe(params: MuveraParams) -> str:
    return f"k_sim={params.k_sim}, dim_proj={params.dim_proj}, r_reps={params.r_reps}, seed={params.seed}"


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


@lru_cache(maxsize=8)
def _muvera(dim: int, params: MuveraParams):
    """FastEmbed's ``Muvera`` (imported on first use: the package pulls in onnxruntime)."""
    try:
        from fastembed.postprocess.muvera import Muvera
    except ImportError as err:
        raise CollectionSettingsError(f"the MUVERA first stage needs fastembed 0.9.1 ({err}); "
                                      "pip install --no-deps fastembed==0.9.1, or use the pooled first stage"
                                      ) from None
    return Muvera(dim, k_sim=params.k_sim, dim_proj=params.dim_proj, r_reps=params.r_reps,
                  random_seed=params.seed)
