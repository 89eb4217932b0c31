"""Each storage setting against the named system's own code, on the same vectors.

- Qdrant: the engine itself, ``qdrant-edge-py`` 0.9.0 (Qdrant v1.19): a shard with
  multivector MaxSim cosine and int8 or binary quantization, optimised so that the
  quantized vectors exist, queried with rescoring off (and on, for binary+rescore).
- Stanford ColBERT: ``colbert/indexing/codecs/residual.py`` of ``colbert-ai`` 0.2.22,
  loaded on its own (the package's ``__init__`` pulls in the indexer's dependencies),
  given the same centroids, cutoffs and weights.
- PyLate: ``ColBERT.pool_embeddings_hierarchical`` of PyLate 1.6.0, its source taken
  from the installed package and run on its own (PyLate's dependencies do not install
  beside this project's torch).

``scripts/test.sh`` installs all three; a test skips, naming the package, only where
one is missing.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import textwrap
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from factories import document_record, filler_words, query_record

from colbert_viz.maths.scoring import truncate_dims
from colbert_viz.records import TokenVectors
from colbert_viz.storage import codecs
from colbert_viz.storage import settings as storage
from colbert_viz.storage.settings import StorageSetting, apply

DIMS = (128, 96, 64)
SCORE_TOLERANCE = 5e-3


def random_run(n_documents: int, n_words: int, seed: int = 0) -> tuple[TokenVectors, list[TokenVectors]]:
    """A query and documents of random unit vectors (128-d); each document stores ``n_words + 3`` tokens
    less its punctuation."""
    q = query_record(["population", "of", "Berlin"], n_expansion=4, seed=seed)
    docs = [document_record(filler_words(n_words + i % 3), seed=100 * seed + i) for i in range(n_documents)]
    return q, docs


@pytest.fixture(scope="module")
def berlin_run(tiny_model, berlin) -> tuple[TokenVectors, list[TokenVectors]]:
    """The tiny checkpoint's vectors of the Berlin example (8 documents)."""
    return tiny_model.encode_queries([berlin["query"]])[0], tiny_model.encode_documents(berlin["documents"])


def stored_tokens(documents: list[TokenVectors], dim: int) -> list[np.ndarray]:
    """Each document's stored (scored) token vectors at ``dim``, as ``storage.apply`` stores them."""
    return [truncate_dims(d.vectors, dim)[d.scored] for d in documents]


# --- Qdrant Edge --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qdrant():
    return pytest.importorskip("qdrant_edge", reason="qdrant-edge-py==0.9.0 is not installed (requirements-dev.txt)")


def qdrant_search(qe, tmp_path: Path, query: np.ndarray, documents: list[np.ndarray], quantization, *,
                  limit: int | None = None, rescore: bool = False, oversampling: float | None = None):
    """Index ``documents`` in a fresh Qdrant Edge shard and run one MaxSim query.

    Returns ``(scores, ids, bytes_per_vector)``: scores (n_documents,) by input order (NaN where
    not returned), returned ids best first, and the size of the quantized storage per token vector."""
    params = qe.EdgeVectorParams(size=query.shape[1], distance=qe.Distance.Cosine,
                                 multivector_config=qe.MultiVectorConfig(comparator=qe.MultiVectorComparator.MaxSim))
    config = qe.EdgeConfig(vectors={"tokens": params}, quantization_config=quantization,
                           optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1))
    shard = qe.EdgeShard.create(str(tmp_path / "shard"), config)
    try:
        shard.update(qe.UpdateOperation.upsert_points(
            [qe.Point(id=i, vector={"tokens": d.tolist()}) for i, d in enumerate(documents)]))
        shard.optimize()  # quantized vectors exist only in optimised segments
        shard.flush()
        search = qe.SearchParams(quantization=qe.QuantizationSearchParams(ignore=False, rescore=rescore,
                                                                          oversampling=oversampling))
        hits = shard.query(qe.QueryRequest(limit=limit or len(documents), params=search,
                                           query=qe.Query.Nearest(query.tolist(), using="tokens")))
    finally:
        shard.close()
    scores = np.full(len(documents), np.nan)
    for hit in hits:
        scores[hit.id] = hit.score
    stored = sum(f.stat().st_size for f in tmp_path.rglob("quantized.data"))
    return scores, [hit.id for hit in hits], stored / sum(len(d) for d in documents)


def int8_config(qe):
    return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=codecs.QUANTILE, always_ram=True)


def binary_config(qe):
    return qe.BinaryQuantizationConfig(always_ram=True)


def assert_same_ranking(run: storage.StoredRun, scores: np.ndarray, ids: list[int], k: int = 3):
    np.testing.assert_allclose(run.scores, scores, rtol=0, atol=SCORE_TOLERANCE)
    assert run.order[:k].tolist() == ids[:k]


# 8 documents of 10 or so stored tokens: fewer than 127 vectors (Qdrant's plain min and max);
# 8 of 40 or so: more (Qdrant's cut by the number of vectors)
RANDOM_CASES = [pytest.param(8, 7, id="under-127-vectors"), pytest.param(8, 37, id="over-127-vectors")]


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize(("n_documents", "n_words"), RANDOM_CASES)
def test_int8_scores_equal_qdrant_edge_on_random_vectors(qdrant, tmp_path, dim, n_documents, n_words):
    q, docs = random_run(n_documents, n_words, seed=dim)
    stored = stored_tokens(docs, dim)
    assert (sum(map(len, stored)) < 127) == (n_words < 20)
    run = apply(StorageSetting("int8", dim), q, docs)
    scores, ids, per_vector = qdrant_search(qdrant, tmp_path, q.at_dim(dim), stored, int8_config(qdrant))
    assert_same_ranking(run, scores, ids)
    assert run.bytes_per_token == per_vector


@pytest.mark.parametrize("dim", DIMS)
def test_int8_scores_equal_qdrant_edge_on_berlin(qdrant, tmp_path, berlin_run, dim):
    q, docs = berlin_run
    assert sum(int(d.scored.sum()) for d in docs) >= 127
    run = apply(StorageSetting("int8", dim), q, docs)
    scores, ids, per_vector = qdrant_search(qdrant, tmp_path, q.at_dim(dim), stored_tokens(docs, dim),
                                            int8_config(qdrant))
    assert_same_ranking(run, scores, ids)
    assert run.bytes_per_token == per_vector
    # the three shortest documents: fewer than 127 vectors
    short = sorted(docs, key=lambda d: int(d.scored.sum()))[:3]
    assert sum(int(d.scored.sum()) for d in short) < 127
    run = apply(StorageSetting("int8", dim), q, short)
    scores, ids, _ = qdrant_search(qdrant, tmp_path / "short", q.at_dim(dim), stored_tokens(short, dim),
                                   int8_config(qdrant))
    assert_same_ranking(run, scores, ids)


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("source", ["random", "berlin"])
def test_binary_scores_and_bytes_equal_qdrant_edge(qdrant, tmp_path, berlin_run, dim, source):
    q, docs = berlin_run if source == "berlin" else random_run(8, 37, seed=dim)
    run = apply(StorageSetting("binary", dim), q, docs)
    scores, ids, per_vector = qdrant_search(qdrant, tmp_path, q.at_dim(dim), stored_tokens(docs, dim),
                                            binary_config(qdrant))
    # Qdrant's pair score is dims - 2·Hamming; colbert-viz divides it by dims
    np.testing.assert_array_equal(run.scores, scores / dim)  # integers over dim, exactly
    assert_same_up_to_ties(run, ids, scores)
    assert run.bytes_per_token == per_vector  # 16 bytes at 96 dimensions: u8 words padded to 8-byte chunks


def assert_same_up_to_ties(run: storage.StoredRun, ids: list[int], scores: np.ndarray):
    """colbert-viz's order is Qdrant's, documents of equal score by index: Qdrant returns equal
    scores in an order of its own (its top-k heap's, which changes with the limit)."""
    assert run.order.tolist() == sorted(ids, key=lambda i: (-scores[i], i))


@pytest.mark.parametrize("dim", DIMS)
def test_binary_ties_go_by_document_index_where_qdrant_ties(qdrant, tmp_path, dim):
    """Documents with the same signs and other magnitudes tie exactly under binary quantization,
    whatever the CPU: their scores are equal integers in Qdrant and here, listed by index here."""
    rng = np.random.default_rng(dim)
    q = query_record(["population", "of", "Berlin"], n_expansion=2, dim=dim, seed=dim)
    docs = [document_record(filler_words(5), dim=dim, seed=dim + i) for i in range(4)]
    patterns = [0, 1, 0, 2, 1, 3, 0, 2, 1, 0]  # documents 0, 2, 6, 9 share signs; 1, 4, 8; 3, 7
    tied = [replace(docs[p], vectors=docs[p].vectors * rng.uniform(0.5, 2.0, docs[p].vectors.shape).astype(np.float32))
            for p in patterns]
    run = apply(StorageSetting("binary", dim), q, tied)
    scores, ids, _ = qdrant_search(qdrant, tmp_path, q.at_dim(dim), stored_tokens(tied, dim), binary_config(qdrant))
    np.testing.assert_array_equal(run.scores, scores / dim)
    for group in ([0, 2, 6, 9], [1, 4, 8], [3, 7]):
        assert len(set(run.scores[group])) == 1
        assert [i for i in run.order if i in group] == group
    assert_same_up_to_ties(run, ids, scores)


# seeds where rescoring floor(1.5 · 3) = 4 candidates and ceil(1.5 · 3) = 5 return different top 3s
RESCORE_CASES = [(128, 0), (96, 0), (64, 4)]


@pytest.mark.parametrize(("dim", "seed"), RESCORE_CASES)
def test_binary_rescore_returns_what_qdrant_edge_returns(qdrant, tmp_path, dim, seed):
    q = query_record(["population", "of", "Berlin"], n_expansion=2, dim=dim, seed=seed)
    docs = [document_record(filler_words(4), dim=dim, seed=1000 * seed + i) for i in range(12)]
    run = apply(StorageSetting("binary+rescore", dim), q, docs, limit=3, oversampling=1.5)
    scores, ids, _ = qdrant_search(qdrant, tmp_path, q.at_dim(dim), stored_tokens(docs, dim), binary_config(qdrant),
                                   limit=3, rescore=True, oversampling=1.5)
    assert len(run.candidates) == 4
    assert run.order[:3].tolist() == ids
    np.testing.assert_allclose(run.scores[ids], scores[ids], rtol=0, atol=SCORE_TOLERANCE)
    # the case tells floor from ceil: a fifth candidate would change the top 3
    binary = apply(StorageSetting("binary", dim), q, docs)
    exact = apply(StorageSetting("float32", dim), q, docs)
    five = storage.rescore_order(binary.scores, exact.scores, limit=1, oversampling=5.0)[0]
    assert five[:3].tolist() != ids


# --- Stanford ColBERT ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def stanford_codec():
    """colbert-ai 0.2.22's ``ResidualCodec`` class, from its own file, with stand-ins for the
    imports it needs only to load an index (config, logging, strided search, ujson)."""
    spec = importlib.util.find_spec("colbert")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("colbert-ai==0.2.22 is not installed (scripts/test.sh installs it with --no-deps)")
    root = Path(spec.submodule_search_locations[0]) / "indexing" / "codecs"
    stand_ins = {name: types.ModuleType(name) for name in (
        "colbert", "colbert.infra", "colbert.infra.config", "colbert.indexing", "colbert.indexing.codecs",
        "colbert.indexing.codecs.residual_embeddings_strided", "colbert.utils", "colbert.utils.utils", "ujson")}
    stand_ins["colbert.infra.config"].ColBERTConfig = object
    stand_ins["colbert.indexing.codecs.residual_embeddings_strided"].ResidualEmbeddingsStrided = object
    stand_ins["colbert.utils.utils"].print_message = print
    with pytest.MonkeyPatch.context() as patch:
        for name, module in stand_ins.items():
            patch.setitem(sys.modules, name, module)
        for name in ("residual_embeddings", "residual"):
            file_spec = importlib.util.spec_from_file_location(f"colbert.indexing.codecs.{name}", root / f"{name}.py")
            module = importlib.util.module_from_spec(file_spec)
            patch.setitem(sys.modules, file_spec.name, module)
            file_spec.loader.exec_module(module)
    return module.ResidualCodec


def stanford_round_trip(codec_class, codec: codecs.ResidualCodec, vectors: np.ndarray):
    """Stanford's compress and decompress (CPU) of ``vectors`` with ``codec``'s centroids and buckets."""
    import torch

    config = types.SimpleNamespace(total_visible_gpus=0, dim=vectors.shape[1], nbits=codec.nbits, rank=0)
    theirs = codec_class(config, centroids=torch.from_numpy(codec.centroids.copy()), avg_residual=None,
                         bucket_cutoffs=torch.from_numpy(codec.cutoffs), bucket_weights=torch.from_numpy(codec.weights))
    packed = theirs.compress(torch.from_numpy(vectors))
    return packed, theirs.decompress(packed).numpy()


def assert_same_as_stanford(codec_class, codec: codecs.ResidualCodec, vectors: np.ndarray):
    packed, decoded = stanford_round_trip(codec_class, codec, vectors)
    codes, buckets = codec.compress(vectors)
    np.testing.assert_array_equal(codes, packed.codes.numpy())
    np.testing.assert_allclose(codec.decompress(codes, buckets), decoded, rtol=0, atol=1e-6)
    # what Stanford stores per token: an int32 centroid id and nbits·dim/8 bytes of buckets
    per_token = packed.codes.element_size() + packed.residuals.shape[1] * packed.residuals.element_size()
    assert per_token == storage.bytes_per_token(f"residual-{codec.nbits}bit", vectors.shape[1])


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("nbits", [1, 2, 4])
def test_residual_codec_equals_stanford_on_berlin(stanford_codec, berlin_run, dim, nbits):
    _, docs = berlin_run
    tokens = codecs.to_float16(np.concatenate(stored_tokens(docs, dim)))  # the index holds float16
    codec = codecs.train_residual_codec(tokens, nbits)
    assert_same_as_stanford(stanford_codec, codec, tokens)


@pytest.mark.parametrize("nbits", [1, 2, 4])
def test_residual_on_a_cutoff_goes_to_the_lower_bucket_as_stanford(stanford_codec, nbits):
    dim, levels = 64, 2 ** nbits
    rng = np.random.default_rng(nbits)
    centroids = codecs.to_float16(rng.standard_normal((6, dim)).astype(np.float32))
    centroids = codecs.to_float16(centroids / np.linalg.norm(centroids, axis=1, keepdims=True))
    # a zero cutoff in the middle; single-token clusters leave residuals of exactly zero
    cutoffs = (np.arange(1, levels, dtype=np.float32) - levels // 2) * np.float32(0.01)
    weights = (np.arange(levels, dtype=np.float32) - (levels - 1) / 2) * np.float32(0.01)
    codec = codecs.ResidualCodec(nbits, centroids, cutoffs, weights.astype(np.float32))
    noisy = codecs.to_float16(centroids[[0, 1]] + np.float32(0.02) * rng.standard_normal((2, dim)).astype(np.float32))
    vectors = np.concatenate([centroids, noisy])
    assert np.count_nonzero(codec.compress(vectors)[1] == 0) < vectors.size  # some residuals off the cutoff
    assert_same_as_stanford(stanford_codec, codec, vectors)
    _, buckets = codec.compress(centroids)
    assert (buckets == levels // 2 - 1).all()  # 0.0 on the cutoff: the bucket below it


@pytest.mark.parametrize("dim", DIMS)
def test_residual_setting_decodes_as_stanford_on_random_vectors(stanford_codec, dim):
    q, docs = random_run(6, 37, seed=dim)
    tokens = codecs.to_float16(np.concatenate(stored_tokens(docs, dim)))
    run = apply(StorageSetting("residual-2bit", dim), q, docs)
    codec = codecs.train_residual_codec(np.concatenate(stored_tokens(docs, dim)), 2)
    _, decoded = stanford_round_trip(stanford_codec, codec, tokens)
    np.testing.assert_allclose(np.concatenate([d.vectors for d in run.documents]), decoded, rtol=0, atol=1e-6)


# --- PyLate -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pylate_pool():
    """PyLate 1.6.0's ``ColBERT.pool_embeddings_hierarchical``: the method's source from the
    installed package, run in a namespace with the modules it uses (torch, numpy, scipy)."""
    import torch
    from scipy.cluster import hierarchy

    spec = importlib.util.find_spec("pylate")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pylate==1.6.0 is not installed (scripts/test.sh installs it with --no-deps)")
    source = (Path(spec.submodule_search_locations[0]) / "models" / "colbert.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    method = next(node for cls in tree.body if isinstance(cls, ast.ClassDef) and cls.name == "ColBERT"
                  for node in cls.body
                  if isinstance(node, ast.FunctionDef) and node.name == "pool_embeddings_hierarchical")
    namespace = {"torch": torch, "np": np, "hierarchy": hierarchy}
    exec(textwrap.dedent(ast.get_source_segment(source, method)), namespace)
    function = namespace["pool_embeddings_hierarchical"]
    return lambda vectors, pool_factor: function(None, [torch.from_numpy(vectors)], pool_factor=pool_factor,
                                                 protected_tokens=1)[0].numpy()


def assert_same_pooled(mine: np.ndarray, theirs: np.ndarray, query: np.ndarray):
    """Same rows in any order (PyLate orders clusters by label) and the same MaxSim score."""
    assert mine.shape == theirs.shape
    nearest = np.argmin(((mine[:, None, :] - theirs[None, :, :]) ** 2).sum(axis=2), axis=1)
    assert sorted(nearest.tolist()) == list(range(len(theirs)))
    np.testing.assert_allclose(mine, theirs[nearest], rtol=0, atol=1e-5)
    np.testing.assert_allclose((query @ mine.T).max(axis=1).sum(), (query @ theirs.T).max(axis=1).sum(), atol=1e-5)


@pytest.mark.parametrize("pool_factor", [2, 3])
@pytest.mark.parametrize("n_tokens", [2, 3, 13, 40, 97])
def test_pooling_equals_pylate_on_random_vectors(pylate_pool, pool_factor, n_tokens):
    rng = np.random.default_rng(n_tokens)
    x = rng.standard_normal((n_tokens, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    query = x[rng.choice(n_tokens, 4)] + 0.1 * rng.standard_normal((4, 128)).astype(np.float32)
    assert_same_pooled(codecs.pool_tokens(x, pool_factor)[0], pylate_pool(x, pool_factor), query)


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("pool_factor", [2, 3])
def test_pooled_setting_equals_pylate_on_berlin(pylate_pool, berlin_run, dim, pool_factor):
    q, docs = berlin_run
    run = apply(StorageSetting(f"pool-{pool_factor}", dim), q, docs)
    for stored, vectors in zip(run.documents, stored_tokens(docs, dim)):
        assert_same_pooled(stored.vectors, pylate_pool(vectors, pool_factor), q.at_dim(dim))


def near_duplicates(n_pairs: int, seed: int) -> np.ndarray:
    """(1 + 2 n_pairs, 128): a first (protected) row, then pairs of equal rows of norm 1 + 1e-6 (a float32
    rounding of a unit vector): ``1 - x·x`` is about -2e-6 for each pair, a negative cosine distance whatever
    the CPU."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1 + n_pairs, 128))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True) * (1 + 1e-6)).astype(np.float32)
    return np.concatenate([x[:1], np.repeat(x[1:], 2, axis=0)])


@pytest.mark.parametrize("pool_factor", [2, 3])
def test_pooling_clamps_negative_distances_where_pylate_stops(pylate_pool, pool_factor):
    """Equal vectors give a cosine distance just below 0 in float32: PyLate 1.6.0 stops with scipy's
    error; pooling clamps it to 0, which is PyLate's pooling with that one change (and equal rows pool together)."""
    x = near_duplicates(20, seed=pool_factor)
    distances = (np.float32(1.0) - x[1:] @ x[1:].T)[np.triu_indices(40, k=1)]
    assert distances.min() < 0
    with pytest.raises(ValueError, match="negative distances"):
        pylate_pool(x, pool_factor)
    pooled, groups = codecs.pool_tokens(x, pool_factor)
    clamped = pylate_pool_clamped(pylate_pool, x, pool_factor)
    assert_same_pooled(pooled, clamped, x[:4])
    if pool_factor == 2:  # 20 pairs of equal rows into 20 clusters: each pair is one cluster
        assert groups[1:] == [[i, i + 1] for i in range(1, 41, 2)]


def pylate_pool_clamped(pylate_pool, vectors: np.ndarray, pool_factor: int) -> np.ndarray:
    """PyLate's pooling with its condensed distances clamped at 0 before Ward linkage."""
    from scipy.cluster import hierarchy

    linkage = hierarchy.linkage
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hierarchy, "linkage", lambda y, method: linkage(np.maximum(y, 0), method=method))
        return pylate_pool(vectors, pool_factor)
