"""Weights into a network: the tensors' names and shapes are compared with the architecture's first, so a file
that does not fit is one sentence saying which tensor is missing or wrong (not load_state_dict's wall of text)."""

from __future__ import annotations

from ..errors import WsshmError
from .registry import create_model


def load_state(model, state: dict, source) -> None:
    """``model.load_state_dict(state)`` strictly, after checking every name and shape against the model's own."""
    arch = getattr(model, "arch_name", None) or type(model).__name__
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing:
        raise WsshmError(f"{source} does not fit a {arch} network: {len(missing)} of its {len(expected)} tensors "
                         f"are missing ({_few(missing)})")
    if extra:
        raise WsshmError(f"{source} does not fit a {arch} network: it holds {len(extra)} tensors the network does "
                         f"not have ({_few(extra)})")
    if wrong:
        name, got, need = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise WsshmError(f"{source} does not fit a {arch} network: tensor {name!r} has shape {list(got)}, the "
                         f"network's is {list(need)}{more}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:  # e.g. a tensor of a type that cannot be copied into the parameter
        raise WsshmError(f"{source} cannot be loaded into a {arch} network ({str(exc).splitlines()[0][:160]})"
                         ) from None


def load_model(path) -> tuple:
    """(network with the weights of ``path`` loaded, metadata): every failure is one sentence naming ``path``."""
    from ..weights import check_model_metadata, load_weights

    state, meta = load_weights(path)
    check_model_metadata(meta, path)
    arch = meta.get("architecture")
    if not arch:
        raise WsshmError(f"{path} does not name its architecture (no 'architecture' metadata)")
    try:
        model = create_model(arch)
    except WsshmError as exc:
        raise WsshmError(f"{path}: {exc}") from None
    load_state(model, state, path)
    return model, meta


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")

