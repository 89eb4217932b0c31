"""``colbert_viz.load``: folders, shards, hub ids, broken checkpoints, dtype and
device choice, the offline fallback and BERT-family HF_ColBERT checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import colbert_viz
from colbert_viz.engine import loading
from colbert_viz.engine.checkpoint import ModelLoadError, offline_model_dir, read_config
from colbert_viz.engine.synthetic import write_checkpoint

TEXTS = ["Hello World", "Berlin ist die Hauptstadt Deutschlands.", "柏林是德国首都。",
         "The urban area of Berlin has a population of over 4.5 million."]


def load_cpu(path, **kwargs):
    return colbert_viz.load(str(path), dtype="float32", device="cpu", **kwargs)


def fresh_copy(model):
    """The same network behind an empty cache: results computed now, in the same batches."""
    from colbert_viz.engine.cache import VectorCache
    from colbert_viz.engine.encoder import ColbertModel

    return ColbertModel(model.info, model.tokenizer, model.network, model.device, model.dtype, VectorCache(),
                        model.batch_tokens)


@pytest.fixture(scope="module")
def tiny_state(tiny_checkpoint) -> dict[str, torch.Tensor]:
    return load_file(str(tiny_checkpoint / "model.safetensors"))


@pytest.fixture
def clone(tiny_checkpoint, tmp_path):
    """A copy of the tiny checkpoint that a test may break."""
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    return folder


def rewrite_weights(folder: Path, state: dict[str, torch.Tensor]) -> None:
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def edit_config(folder: Path, **changes) -> None:
    file = folder / "config.json"
    config = json.loads(file.read_text())
    config.update(changes)
    file.write_text(json.dumps(config))


# ---------------------------------------------------------------------------------
# Good checkpoints
# ---------------------------------------------------------------------------------


def test_load_from_folder(tiny_model, tiny_checkpoint):
    info = tiny_model.info
    assert info.family == "jina"
    assert info.dim == 128 and info.dimensions == (128, 96, 64)
    assert info.dtype == "float32" and info.device == "cpu"
    assert info.path == str(tiny_checkpoint)
    assert info.display_name == f"{tiny_checkpoint.name} (local checkpoint)"  # no server path on the page
    assert not info.is_fallback and info.note == ""
    settings = tiny_model.tokenizer.settings
    assert (settings.query_maxlen, settings.doc_maxlen) == (32, 8192)
    assert settings.attend_to_mask_tokens and settings.query_expansion


def test_load_accepts_a_path_object_and_auto_dtype(tiny_checkpoint, tiny_model, monkeypatch):
    monkeypatch.setattr(loading, "cpu_supports_bf16", lambda: False)
    model = colbert_viz.load(tiny_checkpoint, dtype="auto", device="cpu")
    assert model.info.path == str(tiny_checkpoint)
    assert model.info.dtype == "float32" and model.dtype is torch.float32
    assert model.network.module.linear.weight.dtype is torch.float32
    np.testing.assert_array_equal(model.encode_documents(TEXTS[:1])[0].vectors,
                                  fresh_copy(tiny_model).encode_documents(TEXTS[:1])[0].vectors)


def test_sharded_checkpoint_equals_single_file(tmp_path, tiny_model, tiny_state):
    folder = write_checkpoint(tmp_path / "sharded", seed=0, shards=3)
    shards = sorted(p.name for p in folder.glob("model-*.safetensors"))
    assert shards == [f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3)]
    assert not (folder / "model.safetensors").exists()
    sharded = load_cpu(folder)
    assert sharded.info.dim == 128
    single = fresh_copy(tiny_model)
    for a, b in zip(sharded.encode_documents(TEXTS), single.encode_documents(TEXTS)):
        np.testing.assert_array_equal(a.vectors, b.vectors)
    for a, b in zip(sharded.encode_queries(TEXTS[:2]), single.encode_queries(TEXTS[:2])):
        np.testing.assert_array_equal(a.vectors, b.vectors)
    # every key of the single file is in some shard, each in exactly one
    seen: list[str] = []
    for name in shards:
        seen += list(load_file(str(folder / name)))
    assert sorted(seen) == sorted(tiny_state)

    (folder / shards[1]).unlink()
    with pytest.raises(ModelLoadError, match=f"shard {shards[1]} listed in model.safetensors.index.json is missing"):
        load_cpu(folder)


def test_metadata_is_optional(tiny_checkpoint, tmp_path):
    config = read_config(tiny_checkpoint)
    jina = loading.tokenizer_settings("jina", {}, config, None)
    assert (jina.query_maxlen, jina.doc_maxlen, jina.query_marker, jina.doc_marker) == (
        32, 8192, "[QueryMarker]", "[DocumentMarker]")
    assert jina.attend_to_mask_tokens and jina.skiplist == "reader"
    # a BERT-family (Stanford) checkpoint without metadata: its recipe's defaults, read as Sentence
    # Transformers reads them (documents up to the model's limit; markers prepended as tokens)
    from colbert_viz.engine.recipe import read_recipe

    recipe = read_recipe(tmp_path, {"architectures": ["HF_ColBERT"], "model_type": "bert"}, (128, 768))
    bert = loading.recipe_settings(recipe, 512, None, {"mask_token": "[MASK]"})
    assert (bert.query_maxlen, bert.doc_maxlen, bert.query_prefix, bert.doc_prefix) == (32, 512, "[unused0] ",
                                                                                        "[unused1] ")
    assert bert.prefix_tokens and not bert.attend_to_mask_tokens and bert.expansion_token == "[MASK]"
    with pytest.raises(ValueError, match="come from its recipe"):
        loading.tokenizer_settings("transformers", {}, {"max_position_embeddings": 512}, None)
    assert loading.tokenizer_settings("jina", {"mask_punctuation": False}, config, None).skiplist == "none"
    assert loading.tokenizer_settings("jina", {"mask_punctuation": False}, config, "stanford").skiplist == "stanford"
    assert loading.tokenizer_settings("jina", {"query_maxlen": 20}, config, None).query_maxlen == 20


# ---------------------------------------------------------------------------------
# Broken checkpoints
# ---------------------------------------------------------------------------------


@pytest.fixture
def build(tmp_path, tiny_checkpoint):
    """Write a weights folder (config.json + model.safetensors) and build the jina
    network from it, as ``load`` does after reading the tokenizer."""

    def run(state: dict[str, torch.Tensor], tokenizer_vocab: int = 250004, **config_changes):
        folder = tmp_path / "weights"
        folder.mkdir(exist_ok=True)
        shutil.copy(tiny_checkpoint / "config.json", folder / "config.json")
        edit_config(folder, **config_changes)
        rewrite_weights(folder, state)
        return loading.build_jina(folder, read_config(folder), tokenizer_vocab)

    return run


def test_build_accepts_the_tiny_state(build, tiny_state, tiny_model):
    network = build(tiny_state)
    for key, value in network.module.state_dict().items():
        torch.testing.assert_close(value, tiny_state[key], check_dtype=False, atol=0, rtol=0)
    assert network.module.linear.out_features == 128


def test_missing_key_through_load(clone, tiny_state):
    key = "roberta.encoder.layers.1.mlp.fc2.bias"
    rewrite_weights(clone, {k: v for k, v in tiny_state.items() if k != key})
    with pytest.raises(ModelLoadError, match=f"checkpoint is missing key '{key}'$"):
        load_cpu(clone)


def test_pooler_keys_are_optional(build, tiny_state):
    assert "roberta.pooler.dense.weight" in tiny_state  # the shipped layout has them, unused
    network = build({k: v for k, v in tiny_state.items() if not k.startswith("roberta.pooler.")})
    for key, value in network.module.state_dict().items():
        torch.testing.assert_close(value, tiny_state[key], atol=0, rtol=0)


def test_derived_buffers_are_ignored(build, tiny_state):
    """Exports that saved the rotary frequencies or position ids still load, with the
    backbone's own, freshly computed rotary table."""
    extra = {"roberta.encoder.layers.0.mixer.rotary_emb.inv_freq": torch.full((8,), 7.0),
             "roberta.embeddings.position_ids": torch.arange(10)[None]}
    network = build({**tiny_state, **extra})
    inv_freq = network.module.roberta.rotary.inv_freq
    assert inv_freq[0] == 1.0 and torch.all(inv_freq < 1.0 + 1e-6)


def test_missing_key(build, tiny_state):
    key = "roberta.emb_ln.bias"
    with pytest.raises(ModelLoadError, match=f"missing key '{key}'$"):
        build({k: v for k, v in tiny_state.items() if k != key})


def test_several_missing_keys_are_counted(build, tiny_state):
    with pytest.raises(ModelLoadError, match=r"missing key 'roberta\.encoder\.layers\.1\.\S+' \(and 11 more\)"):
        build({k: v for k, v in tiny_state.items() if ".layers.1." not in k})


def test_unexpected_key(build, tiny_state):
    key = "roberta.encoder.layers.2.norm1.weight"
    with pytest.raises(ModelLoadError, match=f"unexpected key '{key}'"):
        build({**tiny_state, key: torch.ones(64, dtype=torch.bfloat16)})


def test_wrong_shape(build, tiny_state):
    key = "roberta.encoder.layers.0.mixer.Wqkv.weight"
    with pytest.raises(ModelLoadError, match=rf"key '{key}' has shape \(100, 64\), expected \(192, 64\)"):
        build({**tiny_state, key: tiny_state[key][:100]})


def test_missing_linear_weight(build, tiny_state):
    with pytest.raises(ModelLoadError, match=r"missing key 'linear\.weight'"):
        build({k: v for k, v in tiny_state.items() if k != "linear.weight"})


def test_head_of_wrong_width(build, tiny_state):
    with pytest.raises(ModelLoadError, match=r"'linear.weight' has shape \(128, 32\), expected \(128, 64\)"):
        build({**tiny_state, "linear.weight": torch.zeros(128, 32, dtype=torch.bfloat16)})


def test_layer_count_must_match_config(build, tiny_state):
    with pytest.raises(ModelLoadError, match=r"missing key 'roberta\.encoder\.layers\.2\."):
        build(tiny_state, num_hidden_layers=3)


def test_head_dim_follows_the_checkpoint(build, tiny_state):
    network = build({**tiny_state, "linear.weight": tiny_state["linear.weight"][:96].clone()})
    assert network.module.linear.out_features == 96


def test_no_config(clone):
    (clone / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"has no config\.json"):
        load_cpu(clone)


def test_invalid_json_config(clone):
    (clone / "config.json").write_text('{"vocab_size": 250004, ')
    with pytest.raises(ModelLoadError, match=r"config.json is not valid JSON"):
        load_cpu(clone)


def test_config_that_is_not_an_object(clone):
    (clone / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="does not hold a JSON object"):
        load_cpu(clone)


@pytest.mark.parametrize(("changes", "field"), [
    ({"num_attention_heads": 5}, "num_attention_heads"),
    ({"hidden_act": "relu"}, "hidden_act"),
    ({"vocab_size": None}, "vocab_size"),
    ({"position_embedding_type": "alibi"}, "position_embedding_type"),
    ({"rotary_emb_interleaved": True}, "rotary_emb_interleaved True"),
    ({"rotary_emb_dim": 8}, "rotary_emb_dim 8"),
    ({"rotary_emb_scale_base": 512}, "rotary_emb_scale_base 512"),
])
def test_bad_config_field(build, tiny_state, changes, field):
    with pytest.raises(ModelLoadError, match=field):
        build(tiny_state, **changes)


def test_unsupported_rotary_model_type(clone):
    edit_config(clone, model_type="llama")
    with pytest.raises(ModelLoadError, match="model_type 'llama'"):
        load_cpu(clone)


def test_invalid_metadata(clone):
    (clone / "artifact.metadata").write_text("{nope")
    with pytest.raises(ModelLoadError, match=r"artifact.metadata is not valid JSON"):
        load_cpu(clone)


def test_no_weights(clone):
    (clone / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"has no weights \(model.safetensors or pytorch_model.bin\)"):
        loading.build_jina(clone, read_config(clone), 250004)


def test_unreadable_weights(clone):
    (clone / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match=r"cannot read weights from .*model\.safetensors"):
        loading.build_jina(clone, read_config(clone), 250004)


def test_pytorch_bin_weights(tmp_path, tiny_checkpoint, tiny_state):
    folder = tmp_path / "bin"
    folder.mkdir()
    shutil.copy(tiny_checkpoint / "config.json", folder / "config.json")
    torch.save(tiny_state, folder / "pytorch_model.bin")
    network = loading.build_jina(folder, read_config(folder), 250004)
    torch.testing.assert_close(network.module.linear.weight, tiny_state["linear.weight"], atol=0, rtol=0)


def test_missing_tokenizer(clone):
    (clone / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"has no tokenizer\.json"):
        load_cpu(clone)


def test_tokenizer_larger_than_embeddings(clone, tiny_state):
    """Through ``load``: the tokenizer (250004 tokens) is read from the folder."""
    key = "roberta.embeddings.word_embeddings.weight"
    rewrite_weights(clone, {**tiny_state, key: tiny_state[key][:1000].clone()})
    edit_config(clone, vocab_size=1000)
    with pytest.raises(ModelLoadError, match="tokenizer has 250004 tokens but the embedding matrix has 1000 rows"):
        load_cpu(clone)


# ---------------------------------------------------------------------------------
# Names that are not folders
# ---------------------------------------------------------------------------------


@pytest.fixture
def hub_offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE on, both in the environment and in huggingface_hub's constants
    (read at import time), with an empty cache."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_HUB_CACHE", str(tmp_path / "hub-cache"), raising=False)


def test_unknown_hub_id_offline(hub_offline):
    with pytest.raises(ModelLoadError) as info:
        colbert_viz.load("colbert-viz-tests/no-such-model", dtype="float32", device="cpu")
    message = str(info.value)
    assert "colbert-viz-tests/no-such-model" in message
    assert "HF_HUB_OFFLINE" in message and "not in the local cache" in message
    assert "--model offline" in message


def test_invalid_hub_id(hub_offline):
    with pytest.raises(ModelLoadError, match=r"'bad id!!' is neither a folder nor a valid hub id.*--model offline"):
        colbert_viz.load("bad id!!", dtype="float32", device="cpu")


@pytest.mark.parametrize("name", ["./no/such/folder", "/no/such/folder", "a/b/c"])
def test_path_that_does_not_exist(name, tmp_path):
    with pytest.raises(ModelLoadError, match=f"no checkpoint folder at {name}"):
        colbert_viz.load(name, dtype="float32", device="cpu")


def test_path_that_is_a_file(tiny_checkpoint):
    with pytest.raises(ModelLoadError, match="is a file"):
        load_cpu(tiny_checkpoint / "config.json")


# ---------------------------------------------------------------------------------
# dtype and device
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"dtype": "float16"}, "dtype must be auto, float32, bfloat16 or int8; got 'float16'"),
    ({"dtype": "fp32"}, "dtype must be"),
    ({"device": "tpu"}, "device must be auto, cpu or cuda; got 'tpu'"),
    ({"device": "mps"}, "device must be"),
])
def test_bad_dtype_or_device(tiny_checkpoint, kwargs, words):
    args = {"dtype": "float32", "device": "cpu", **kwargs}
    with pytest.raises(ValueError, match=words):
        colbert_viz.load(str(tiny_checkpoint), **args)


def test_bad_skiplist(tiny_checkpoint):
    with pytest.raises(ValueError, match="skiplist must be one of reader, stanford, none; got 'commas'"):
        load_cpu(tiny_checkpoint, skiplist="commas")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda():
    assert loading.pick_device("auto") == torch.device("cpu")
    with pytest.raises(ModelLoadError, match="no CUDA device is available"):
        loading.pick_device("cuda")
    with pytest.raises(ModelLoadError, match="no CUDA device"):
        loading.pick_device("cuda:0")


def test_pick_device_explicit():
    assert loading.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="got 'gpu'"):
        loading.pick_device("gpu")


def test_pick_dtype(monkeypatch, private_dtype_cache):
    """The CPU's and the GPU's native support each decide for their own device
    (timings: see tests/engine/test_dtype.py; the fake decisions stay in this test's cache)."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert loading.pick_dtype("float32", cpu).torch_dtype is torch.float32
    assert loading.pick_dtype("bfloat16", cpu).torch_dtype is torch.bfloat16
    monkeypatch.setattr(loading, "probe_bf16", lambda *a: loading.Probe(0.02, 0.01, 0.03))
    monkeypatch.setattr(loading, "cpu_supports_bf16", lambda: True)
    assert loading.pick_dtype("auto", cpu).torch_dtype is torch.bfloat16
    monkeypatch.setattr(loading, "cpu_supports_bf16", lambda: False)
    assert loading.pick_dtype("auto", cpu).torch_dtype is torch.float32
    # on CUDA the GPU's answer counts, not the CPU's
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert loading.pick_dtype("auto", cuda).torch_dtype is torch.bfloat16
    monkeypatch.setattr(loading, "cpu_supports_bf16", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert loading.pick_dtype("auto", cuda).torch_dtype is torch.float32
    with pytest.raises(ValueError, match="got 'half'"):
        loading.pick_dtype("half", cpu)


def test_cpu_supports_bf16_is_a_bool():
    assert isinstance(loading.cpu_supports_bf16(), bool)


def test_matryoshka_dimensions():
    assert loading.matryoshka_dimensions(128) == (128, 96, 64)
    assert loading.matryoshka_dimensions(96) == (96, 64)
    assert loading.matryoshka_dimensions(384) == (384, 128, 96, 64)
    assert loading.matryoshka_dimensions(64) == (64,)


# ---------------------------------------------------------------------------------
# The offline fallback
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline_model():
    return colbert_viz.load("offline", dtype="float32", device="cpu")


def test_offline_model(offline_model):
    info = offline_model.info
    assert info.is_fallback and info.family == "offline"
    assert "not jina-colbert-v2" in info.display_name
    assert "NOT jina-colbert-v2" in info.note
    assert info.dim == 384 and info.dimensions[0] == 384
    assert Path(info.path) == offline_model_dir()


def test_offline_model_has_no_markers_or_expansion(offline_model):
    query = offline_model.encode_queries(["What is the population of Berlin?"])[0]
    assert query.tokens == ["[CLS]", "what", "is", "the", "population", "of", "berlin", "?", "[SEP]"]
    assert not query.expansion.any() and not query.marker.any()
    assert "[MASK]" not in query.tokens
    doc = offline_model.encode_documents(["Berlin is big."])[0]
    assert doc.tokens == ["[CLS]", "berlin", "is", "big", ".", "[SEP]"]
    for record in (query, doc):
        assert record.vectors.shape == (len(record), 384)
        assert record.vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(record.vectors, axis=1), 1.0, atol=1e-5)


def test_offline_folder_by_path_is_the_fallback():
    assert loading.detect_family("anything", offline_model_dir(), {"model_type": "bert"}) == "offline"


# ---------------------------------------------------------------------------------
# A BERT-family HF_ColBERT checkpoint
# ---------------------------------------------------------------------------------

BERT_META = {"query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_maxlen": 32,
             "doc_maxlen": 180, "attend_to_mask_tokens": False, "mask_punctuation": True}


@pytest.fixture(scope="module")
def bert_colbert(tmp_path_factory):
    """all-MiniLM-L6-v2 re-saved as an HF_ColBERT checkpoint: ``bert.`` keys plus a
    random 96-d ``linear`` head; returns (folder, head weight)."""
    source = offline_model_dir()
    folder = tmp_path_factory.mktemp("bert") / "minilm-colbert"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / name, folder / name)
    state = {"bert." + k: v for k, v in load_file(str(source / "model.safetensors")).items()}
    head = torch.randn(96, 384, generator=torch.Generator().manual_seed(3)) * 384 ** -0.5
    state["linear.weight"] = head
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "artifact.metadata").write_text(json.dumps(BERT_META))
    return folder, head


@pytest.fixture(scope="module")
def bert_model(bert_colbert):
    return load_cpu(bert_colbert[0])


@pytest.fixture(scope="module")
def minilm():
    """The original MiniLM through transformers, for the manual computation."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(offline_model_dir()), add_pooling_layer=False).eval()


def manual(minilm, head, ids: list[int], attend: list[int]) -> np.ndarray:
    with torch.inference_mode():
        hidden = minilm(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([attend])).last_hidden_state[0]
        return torch.nn.functional.normalize(hidden @ head.T, dim=-1).numpy()


def test_bert_checkpoint_info(bert_model, bert_colbert):
    info = bert_model.info
    assert info.family == "transformers" and not info.is_fallback
    assert info.dim == 96 and info.dimensions == (96, 64)
    assert info.display_name == f"{bert_colbert[0].name} (local checkpoint)"
    settings = bert_model.tokenizer.settings
    assert (settings.query_maxlen, settings.doc_maxlen) == (32, 180)
    assert not settings.attend_to_mask_tokens


def test_bert_query_layout_and_vectors(bert_model, bert_colbert, minilm):
    query = bert_model.encode_queries(["What is the population of Berlin?"])[0]
    assert len(query) == 32
    assert query.tokens[:2] == ["[CLS]", "[unused0]"] and query.ids[1] == 1 and query.marker[1]
    assert query.tokens[2:10] == ["what", "is", "the", "population", "of", "berlin", "?", "[SEP]"]
    assert query.tokens[10:] == ["[MASK]"] * 22 and query.expansion[10:].all() and not query.expansion[:10].any()
    ids = query.ids.tolist()
    assert ids[:10] == [101, 1, 2054, 2003, 1996, 2313, 1997, 4068, 1029, 102] and ids[10:] == [103] * 22
    # attend_to_mask_tokens false: the [MASK] tokens are outputs but not keys
    want = manual(minilm, bert_colbert[1], ids, [1] * 10 + [0] * 22)
    assert query.vectors.shape == (32, 96)
    np.testing.assert_allclose(query.vectors, want, atol=1e-5, rtol=0)
    attending = manual(minilm, bert_colbert[1], ids, [1] * 32)
    assert np.abs(query.vectors - attending).max() > 1e-3


def test_bert_document_vectors(bert_model, bert_colbert, minilm):
    texts = ["Berlin is the capital and largest city of Germany.", "Mount Berlin is a volcano.", "Hi"]
    docs = bert_model.encode_documents(texts)  # padded together into one batch
    tokenizer = bert_model.tokenizer.tokenizer
    for text, doc in zip(texts, docs):
        ids = [101, 2] + tokenizer.encode(text, add_special_tokens=False).ids + [102]
        assert doc.ids.tolist() == ids and doc.tokens[1] == "[unused1]"
        want = manual(minilm, bert_colbert[1], ids, [1] * len(ids))
        np.testing.assert_allclose(doc.vectors, want, atol=1e-5, rtol=0, err_msg=text)


def test_bert_document_maxlen_from_metadata(bert_model):
    doc = bert_model.encode_documents(["Berlin " * 400])[0]
    assert len(doc) == 180 and doc.truncated and doc.n_text_tokens == 400
    assert doc.tokens[-1] == "[SEP]"


def test_bert_checkpoint_without_tokenizer_json(bert_colbert, bert_model, tmp_path):
    """Older WordPiece checkpoints ship vocab.txt only: the fast tokenizer is built from it."""
    folder = tmp_path / "no-tokenizer-json"
    shutil.copytree(bert_colbert[0], folder)
    (folder / "tokenizer.json").unlink()
    model = load_cpu(folder)
    text = "What is the population of Berlin? Über 3,8 Millionen."
    with_vocab, with_json = model.encode_documents([text])[0], bert_model.encode_documents([text])[0]
    assert with_vocab.tokens == with_json.tokens
    np.testing.assert_array_equal(with_vocab.ids, with_json.ids)
    np.testing.assert_allclose(with_vocab.vectors, with_json.vectors, atol=1e-6)


def test_encoder_does_not_import_the_later_stages_at_module_level():
    """Data flows one way (tokenize → encode → score → explain): the torch layer
    imports analysis and explain only inside the methods that hand over to them."""
    import ast

    import colbert_viz.engine.encoder as encoder

    tree = ast.parse(Path(encoder.__file__).read_text(encoding="utf-8"))
    top_level = {alias.name if isinstance(node, ast.Import) else node.module
                 for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
                 for alias in node.names}
    assert {"colbert_viz.maths.analysis", "colbert_viz.maths.explain"}.isdisjoint(top_level)
    assert "colbert_viz.maths.scoring" in top_level  # the parse sees the real imports
