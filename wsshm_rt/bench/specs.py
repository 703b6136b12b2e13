"""The models a benchmark times: architecture names exported untrained to ONNX, or ONNX files (ours or peers')."""

from __future__ import annotations

from pathlib import Path

from ..errors import WsshmError
from . import reference
from .config import BenchConfig, ModelSpec


def resolve_model(name_or_path: str, tmp: Path) -> ModelSpec:
    """An architecture name -> an untrained ONNX exported into ``tmp``; an ONNX path -> itself."""
    path = Path(name_or_path)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise WsshmError(f"{path} does not exist")
        meta, shape = onnx_header(path)
        return ModelSpec(path.stem, path, meta.get("architecture"), meta, name_or_path, shape)
    from ..export.api import export_onnx_file
    from ..models import model_config

    model_config(name_or_path)  # raises the one-line "unknown model" error before any export work
    onnx = export_onnx_file(tmp / f"{name_or_path}.onnx", model=name_or_path)
    meta, shape = onnx_header(onnx)
    return ModelSpec(name_or_path, onnx, name_or_path, meta, name_or_path, shape)


def unique_labels(specs: list[ModelSpec]) -> list[ModelSpec]:
    """'r18-0.5' given twice (a name and a file called r18-0.5.onnx) -> 'r18-0.5', 'r18-0.5#2'."""
    seen: dict[str, int] = {}
    for spec in specs:
        seen[spec.label] = seen.get(spec.label, 0) + 1
        if seen[spec.label] > 1:
            spec.label = f"{spec.label}#{seen[spec.label]}"
    return specs


def models_with_reference(cfg: BenchConfig) -> list[str]:
    """The models to time: ``cfg.models``, plus the reference when it is not among them."""
    if cfg.reference is None or cfg.reference in cfg.models or _same_file(cfg.reference, cfg.models):
        return list(cfg.models)
    return [*cfg.models, cfg.reference]


def find_reference(cfg: BenchConfig, specs: list[ModelSpec]) -> ModelSpec | None:
    if cfg.reference is None:
        return None
    for spec in specs:
        if spec.given == cfg.reference or _same_file(cfg.reference, [spec.given]):
            return spec
    return None


def _same_file(name: str, others) -> bool:
    path = Path(name)
    if path.suffix.lower() != ".onnx" or not path.exists():
        return False
    return any(Path(o).suffix.lower() == ".onnx" and Path(o).exists() and Path(o).samefile(path) for o in others)


def onnx_header(path: Path) -> tuple[dict, tuple]:
    """(metadata, input dims) of an ONNX file: each dim an int where fixed, None where dynamic."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception:
        raise WsshmError(f"{path} is not a loadable ONNX model") from None
    inputs = sess.get_inputs()
    shape = tuple(d if isinstance(d, int) else None for d in inputs[0].shape) if len(inputs) == 1 else ()
    return dict(sess.get_modelmeta().custom_metadata_map), shape


def model_info(specs: list[ModelSpec], cfg: BenchConfig) -> dict:
    """Per model: file, architecture, input shape, quantisation, the paper's FPS, params and GFLOPs."""
    info = {}
    for spec in specs:
        shape = spec.shape(spec.input_shape[0] or 1, cfg.size) if len(spec.input_shape) == 4 else None
        entry = {"onnx": str(spec.onnx) if spec.label != spec.arch else None, "arch": spec.arch,
                 "peer": spec.metadata.get("peer"), "fixed_shape": list(shape) if spec.fixed else None,
                 "quantization": spec.metadata.get("quantization"),
                 "paper_fps": reference.paper_fps(spec.arch or spec.metadata.get("peer"))}
        if cfg.costs:
            entry.update(_costs(spec, cfg, shape))
        info[spec.label] = entry
    return info


def _costs(spec: ModelSpec, cfg: BenchConfig, shape) -> dict:
    """Params/GFLOPs per part from the torch model of a known architecture, else GFLOPs from the ONNX graph."""
    try:
        if spec.arch:
            from .flops import model_costs

            return model_costs(spec.arch, cfg.size)
        from .flops import onnx_flops

        return {"size": list(shape[2:]), "gflops": {"total": onnx_flops(spec.onnx, shape) / 1e9}} if shape else {}
    except ImportError:  # torch / onnx (the train extra) not installed: the timings stand without the costs
        return {}
