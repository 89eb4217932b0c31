"""The recipes the README states for published models, read from their published files
(``tests/published_recipes.py`` quotes them verbatim, with source and revision). Only the recipe files
are written (the weights are not needed to read a recipe); files that were not available are named."""

from __future__ import annotations

import json
import string

from colbert_viz.engine.recipe import read_recipe
from tests.published_recipes import PARTIAL, published


def _write(folder, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def test_lateon_code_edge(tmp_path):
    """PyLate; markers as tokens; queries not expanded, cut at 256 tokens; documents at 2048; punctuation
    skipped; ends in a 48-d projection (its 1_Dense/config.json was not available: the published 2_Dense,
    512 → 48, is the only projection written here)."""
    repo = "lightonai/LateOn-Code-edge"
    modules = [m for m in published(repo, "modules.json") if m["path"] != "1_Dense"]
    _write(tmp_path, {"config_sentence_transformers.json": published(repo, "config_sentence_transformers.json"),
                      "modules.json": modules, "2_Dense/config.json": published(repo, "2_Dense/config.json")})
    recipe = read_recipe(tmp_path, {"model_type": "modernbert"})
    assert (recipe.format, recipe.prefix_kind, recipe.query_prefix, recipe.document_prefix) == \
        ("pylate", "token", "[Q] ", "[D] ")
    assert (recipe.expansion, recipe.query_length, recipe.document_length) == ("none", 256, 2048)
    assert recipe.skiplist_words == tuple(string.punctuation) and recipe.skiplist_tasks == ("document",)
    assert recipe.dim == 48 and [(d.in_features, d.out_features, d.bias, d.activation, d.residual)
                                 for d in recipe.dense] == [(512, 48, False, "identity", False)]
    assert recipe.notes == ()  # every key is in the file: no default applied


def test_lateon_code_reads_the_same_keys(tmp_path):
    repo = "lightonai/LateOn-Code"
    _write(tmp_path, {"config_sentence_transformers.json": published(repo, "config_sentence_transformers.json"),
                      "modules.json": [{"idx": 0, "name": "0", "path": "", "type":
                                        "sentence_transformers.models.Transformer"},
                                       {"idx": 1, "name": "1", "path": "1_Dense", "type":
                                        "pylate.models.Dense.Dense"}],
                      "1_Dense/config.json": published("lightonai/LateOn-Code-edge", "2_Dense/config.json")})
    recipe = read_recipe(tmp_path, {"model_type": "modernbert"})
    assert (recipe.expansion, recipe.query_length, recipe.document_length, recipe.prefix_kind) == \
        ("none", 256, 2048, "token")


def test_answerai_colbert_small_v1(tmp_path):
    """Stanford (HF_ColBERT): [unused0]/[unused1] as tokens, 96-d bias-free head (the published PyLate
    1_Dense says 384 → 96); the quoted artifact.metadata is partial, so the query length and attention
    are the Stanford defaults, each named in the notes."""
    repo = "answerdotai/answerai-colbert-small-v1"
    ((_, _, _, metadata),) = [p for p in PARTIAL if p[0] == repo and p[1] == "artifact.metadata"]
    _write(tmp_path, {"artifact.metadata": metadata})
    dense = published(repo, "1_Dense/config.json")
    recipe = read_recipe(tmp_path, published(repo, "config.json"), (dense["out_features"], dense["in_features"]))
    assert (recipe.format, recipe.backbone, recipe.dim) == ("stanford", "bert", 96)
    assert (recipe.query_prefix, recipe.document_prefix, recipe.prefix_kind) == ("[unused0] ", "[unused1] ", "token")
    assert (recipe.expansion, recipe.expansion_length, recipe.attend_expansion) == ("fixed", 32, False)
    assert recipe.skiplist_words == tuple(string.punctuation)
    assert any("no query_maxlen" in n for n in recipe.notes)
    assert not any("query_token_id" in n for n in recipe.notes)  # the file states the markers
