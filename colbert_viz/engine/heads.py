"""Dedicated heads against cuts: jina-colbert-v2's ``-96`` / ``-64`` siblings on the same backbone.

jina-colbert-v2's launch post says its 96 and 64 dimensions come from separately trained projection
heads, published as ``jinaai/jina-colbert-v2-96`` and ``-64``. colbert-viz's dimension control cuts
the 128-d vectors (first k components, re-normalised). ``with_head`` loads only a sibling's
``linear.weight`` onto a loaded model's backbone, after checking, tensor by tensor, that the sibling's
backbone is the same; ``HeadCheck`` says whether the head is just the first k rows of the model's own
(then cutting gives exactly its vectors, and one of the two is enough).

    >>> base = colbert_viz.load("jinaai/jina-colbert-v2")                  # doctest: +SKIP
    >>> head96 = with_head(base, "jinaai/jina-colbert-v2-96")              # doctest: +SKIP
    >>> head96.info.recipe.dim, head96.head_check.equals_cut                # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from colbert_viz.engine.checkpoint import ModelLoadError, read_config, resolve, weight_files
from colbert_viz.engine.encoder import ColbertModel
from colbert_viz.engine.recipe import DenseLayer

HEAD_KEY = "linear.weight"


@dataclass(frozen=True)
class HeadCheck:
    """What was compared: ``tensors_compared`` backbone tensors all equal; ``equals_cut``: the head's
    rows equal the first ``dim`` rows of the model's own head (largest difference ``max_row_difference``)."""

    sibling: str
    dim: int
    tensors_compared: int
    equals_cut: bool
    max_row_difference: float

    def sentence(self) -> str:
        if self.equals_cut:
            return (f"the {self.dim}-d head of {self.sibling} is the first {self.dim} rows of the 128-d head: "
                    f"cutting to {self.dim} gives the same vectors, so only the cut is offered")
        return (f"the {self.dim}-d head of {self.sibling} is its own projection (largest difference from the "
                f"first {self.dim} rows of the 128-d head: {self.max_row_difference:.3g}); same backbone, "
                f"{self.tensors_compared} tensors compared")


def _sibling_tensors(folder: Path):
    """(name, tensor) of every stored tensor, one at a time where the files are safetensors."""
    for file in weight_files(folder):
        if file.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():  # noqa: SIM118 (a safe_open handle)
                    yield key, handle.get_tensor(key)
        else:
            yield from torch.load(file, map_location="cpu", weights_only=True).items()


def _backbone_state(model: ColbertModel) -> dict[str, torch.Tensor]:
    """The loaded backbone's tensors by their checkpoint names (``roberta.…`` for jina)."""
    network = model.network
    if hasattr(network, "module"):
        return {f"roberta.{k}": v for k, v in network.module.roberta.state_dict().items()}
    prefix = getattr(network.model, "base_model_prefix", "")
    return {f"{prefix}.{k}" if prefix else k: v for k, v in network.model.state_dict().items()}


def check_sibling(model: ColbertModel, sibling: str) -> tuple[torch.Tensor, HeadCheck]:
    """The sibling's head (dim, hidden) and the check; ``ModelLoadError`` with one sentence when the
    sibling is not the same backbone with another head."""
    if model.info.family != "jina":
        raise ModelLoadError("dedicated heads are compared for jina-colbert-v2-layout models only")
    if model.info.dtype == "int8":
        raise ModelLoadError("dedicated heads need the float32 or bfloat16 engine, not int8")
    folder = resolve(sibling)
    config = read_config(folder)
    if config.get("position_embedding_type") != "rotary":
        raise ModelLoadError(f"{sibling} is not in jina-colbert-v2's layout (no rotary positions)")
    own = {k: v.detach().to("cpu") for k, v in _backbone_state(model).items()}
    head, compared = None, 0
    for key, tensor in _sibling_tensors(folder):
        if key == HEAD_KEY:
            head = tensor
            continue
        mine = own.get(key)
        if mine is None:
            continue  # derived buffers, an unused pooler
        if tuple(mine.shape) != tuple(tensor.shape) or not torch.equal(mine.to(tensor.dtype), tensor):
            raise ModelLoadError(f"{sibling} has another backbone than {model.info.display_name} "
                                 f"(tensor {key} differs): its head cannot be put on this backbone")
        compared += 1
    if head is None:
        raise ModelLoadError(f"{sibling} has no {HEAD_KEY} (the ColBERT projection)")
    if compared < len(own):
        raise ModelLoadError(f"{sibling} stores {compared} of the backbone's {len(own)} tensors: not the same model")
    own_head = model.network.module.linear.weight.detach().float().cpu()
    dim = head.shape[0]
    if head.ndim != 2 or head.shape[1] != own_head.shape[1] or dim >= own_head.shape[0]:
        raise ModelLoadError(f"{sibling}'s head has shape {tuple(head.shape)}; expected (k, {own_head.shape[1]}) "
                             f"with k below {own_head.shape[0]}")
    difference = float((head.float() - own_head[:dim]).abs().max())
    shown = f"{folder.name} (local checkpoint)" if Path(sibling).expanduser().is_dir() else sibling  # no server path
    check = HeadCheck(sibling=shown, dim=dim, tensors_compared=compared,
                      equals_cut=difference <= 1e-6, max_row_difference=difference)
    return head, check


class HeadNetwork:
    """A loaded jina network's backbone with another ``linear`` head (the backbone is shared, not copied)."""

    packed = True

    def __init__(self, base, linear: nn.Linear) -> None:
        self.roberta = base.module.roberta  # shared with the base model
        self.linear = linear

    def quantize_int8(self) -> None:
        raise ModelLoadError("dedicated heads need the float32 or bfloat16 engine, not int8")

    def to(self, device: torch.device) -> HeadNetwork:
        self.roberta.to(device)
        self.linear.to(device)
        return self

    def __call__(self, sequences, key_masks):
        lengths = [len(s) for s in sequences]
        hidden = self.roberta(torch.cat(list(sequences)), lengths, key_masks)
        return list(self.linear(hidden).split(lengths))


def with_head(model: ColbertModel, sibling: str) -> ColbertModel:
    """``model``'s backbone with ``sibling``'s head: a model of the head's size (one dimension), marked
    ``head_check``. Raises ``ModelLoadError`` (one sentence) when the sibling does not fit."""
    head, check = check_sibling(model, sibling)
    dim, hidden = head.shape
    linear = nn.Linear(hidden, dim, bias=False).to(device=model.device, dtype=model.dtype)
    with torch.no_grad():
        linear.weight.copy_(head.to(linear.weight.dtype))
    recipe = model.info.recipe
    if recipe is not None:
        recipe = replace(recipe, dim=dim, dense=(DenseLayer(hidden, dim, bias=False, folder=check.sibling),),
                         notes=(*recipe.notes, check.sentence()))
    info = replace(model.info, name=f"{model.info.name}+head:{sibling}", dim=dim, dimensions=(dim,),
                   display_name=f"{model.info.display_name} · {dim}-d head", recipe=recipe)
    variant = ColbertModel(info, model.tokenizer, HeadNetwork(model.network, linear.eval()), model.device,
                           model.dtype, model.cache, model.batch_tokens)
    variant.head_check = check
    return variant
