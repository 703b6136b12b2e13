"""Recipes: a whole training recipe in one YAML file, run end to end by one command.

    wsshm-rt train recipe recipes/default-cpu.yaml --set data=../shared/data-small --set runs=runs/r1
    wsshm-rt train recipe recipes/default-cpu-round2.yaml --only student-mix     # one step, by name

A recipe file (flat and typed, no inheritance):
  vars:    {name: default, ...}    ``${name}`` in any value below; ``--set name=value`` overrides a default
  common:  {field: value, ...}     TrainConfig fields of every train step
  steps:                           run in order; run again, a recipe resumes (a finished stage ends at once)
    - train: pretrain|teacher|student   plus TrainConfig fields; ``out`` defaults to ${runs}/<name>
      name: pre
    - average: [weights, ...]      ``weights: [w, ...]`` (relative), ``modules: {name: [w, ...]}`` (weights of
                                   their own for some modules), ``out: x.safetensors|x.onnx``
    - bundle: weights              ``short_side``, ``note``, ``out_dir`` (export.bundle)
    - pseudo_label: photos         ``models: [weights, ...]`` (an ensemble), ``out`` (default ${runs}/<name>),
                                   ``short_side``, ``tta``, ``low``, ``high``, ``band_px``, ``max_unsure``: a
                                   self-training round labels a folder for the next train step's ``pseudo``

A train step's config, lowest first: stage defaults < ``common`` < the step < ``--preset`` < a field whose value is a
var given with ``--set`` (``iters: ${pre_iters}`` with ``--set pre_iters=20``) < ``--set field=value`` (a config field
the recipe does not declare as a var, given with --set, applies to every train step): ``--preset small --set
iters=20`` runs a recipe as a smoke test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import WsshmError
from .config import PRESETS, TrainConfig, field_names, load_yaml, resolve_config

_VAR = re.compile(r"\$\{(\w+)\}")
STEP_KINDS = ("train", "average", "bundle", "pseudo_label")
PSEUDO_KEYS = {"models", "out", "short_side", "tta", "low", "high", "band_px", "max_unsure"}


@dataclass
class Step:
    kind: str          # one of STEP_KINDS
    name: str
    spec: dict         # train: the TrainConfig; average/bundle: their arguments


def parse_sets(items: list[str]) -> dict:
    """``["a=1", "runs=runs/x"]`` -> {"a": 1, "runs": "runs/x"}; values read as YAML scalars (numbers, booleans)."""
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WsshmError(f"--set takes name=value, not {item!r}")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def load_recipe(path, sets: dict | None = None, preset: str | None = None,
                only: list[str] | None = None) -> list[Step]:
    """The resolved steps of the recipe at ``path`` (``only``: these, by name); every config is built (and
    validated) before anything runs."""
    recipe = load_yaml(path, "recipe")
    unknown = sorted(set(recipe) - {"vars", "common", "steps"})
    if unknown or not isinstance(recipe.get("steps"), list):
        raise WsshmError(f"recipe {path} must hold 'steps' (a list), and may hold 'vars' and 'common'"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    declared = recipe.get("vars") or {}
    sets = dict(sets or {})  # a name the recipe declares is its var; another config field applies to every step
    config_sets = {k: sets.pop(k) for k in list(sets) if k not in declared and k in field_names()}
    missing = sorted(set(sets) - set(declared))
    if missing:
        raise WsshmError(f"--set {', '.join(missing)}: not a var of {path} nor a config option")
    variables = {**declared, **sets}
    common_raw = recipe.get("common") or {}
    common = _substitute(common_raw, variables)
    steps = [_step(_substitute(raw, variables), common, config_sets, preset, variables, i,
                   _given(common_raw, raw, set(sets)))
             for i, raw in enumerate(recipe["steps"])]
    unknown = sorted(set(only or []) - {s.name for s in steps})
    if unknown:
        raise WsshmError(f"--only {', '.join(unknown)}: {path} has the steps {', '.join(s.name for s in steps)}")
    return [s for s in steps if not only or s.name in only]


def _given(common_raw, raw, user_vars: set) -> set:
    """The config fields of a step whose value comes from a var the user gave with --set (``iters: ${pre_iters}``
    with ``--set pre_iters=20``): those beat --preset, as the user's choice. A step's own value of a field hides
    common's."""
    def pinned(block) -> set:
        if not isinstance(block, dict):
            return set()
        return {k for k, v in block.items() if isinstance(v, str) and set(_VAR.findall(v)) & user_vars}

    own = raw if isinstance(raw, dict) else {}
    return pinned(own) | (pinned(common_raw) - set(own))


def _step(raw: dict, common: dict, config_sets: dict, preset, variables: dict, index: int,
          given: set = frozenset()) -> Step:
    kinds = [k for k in STEP_KINDS if k in raw] if isinstance(raw, dict) else []
    if len(kinds) != 1:
        raise WsshmError(f"recipe step {index + 1} must name one of {', '.join(STEP_KINDS)}, not {raw!r}")
    kind = kinds[0]
    spec = {k: v for k, v in raw.items() if k not in (kind, "name")}
    name = str(raw.get("name", raw[kind] if kind == "train" else f"{kind}-{index + 1}"))
    if kind == "pseudo_label":
        unknown = sorted(set(spec) - PSEUDO_KEYS)
        models = spec.get("models")
        if unknown or not models or not isinstance(models, list):
            raise WsshmError(f"recipe step {name}: a pseudo_label step takes 'models' (a list of weights) and "
                             f"{', '.join(sorted(PSEUDO_KEYS - {'models'}))}"
                             + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        spec.setdefault("out", str(Path(str(variables.get("runs", "runs"))) / name))
        _check_pseudo(name, spec)
    if kind != "train":
        step = Step(kind, name, {kind: raw[kind], **spec})
        if kind == "average":
            _modules(step)  # checked before anything runs
        return step
    merged = {**common, **spec}
    values = {**merged, **_preset_values(preset), **{k: merged[k] for k in given if k in merged}, **config_sets}
    values.setdefault("out", str(Path(str(variables.get("runs", "runs"))) / name))
    return Step(kind, name, {"config": resolve_config(str(raw[kind]), None, None, values)})


def _pseudo_options(spec: dict):
    from .pseudo import PseudoOptions

    return PseudoOptions(**{k: spec[k] for k in ("low", "high", "band_px", "max_unsure") if k in spec})


def _check_pseudo(name: str, spec: dict) -> None:
    """A pseudo_label step's options, checked before anything runs."""
    from ..tta import check_tta
    from ..weights import check_short_side
    from .pseudo import check_options

    try:
        check_options(_pseudo_options(spec))
        check_tta(spec.get("tta", "flip+scale"))
        if spec.get("short_side") is not None:
            check_short_side(spec["short_side"])
    except WsshmError as exc:
        raise WsshmError(f"recipe step {name}: {exc}") from None


def _preset_values(preset: str | None) -> dict:
    if preset and preset not in PRESETS:
        raise WsshmError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS.get(preset or "paper", {}))


def _substitute(value, variables: dict):
    """``${name}`` -> the var; a value that is one whole ``${name}`` keeps the var's type (a number stays one)."""
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    for name in _VAR.findall(value):
        if name not in variables:
            raise WsshmError(f"recipe uses ${{{name}}}, which is not among its vars ({', '.join(variables)})")
    whole = _VAR.fullmatch(value)
    if whole:
        return variables[whole.group(1)]
    return _VAR.sub(lambda m: str(variables[m.group(1)]), value)


def command_line(cfg: TrainConfig) -> str:
    """The `wsshm-rt train` command that runs ``cfg``: every field that differs from the stage's defaults."""
    default = resolve_config(cfg.stage)
    args = [f"wsshm-rt train {cfg.stage}"]
    for f in fields(TrainConfig):
        value, flag = getattr(cfg, f.name), "--" + f.name.replace("_", "-")
        if f.name == "stage" or value == getattr(default, f.name):
            continue
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{f.name.replace('_', '-')}")
        else:
            args += [f"{flag} {v}" for v in (value if isinstance(value, list) else [value])]
    return " ".join(args)


def describe(steps: list[Step]) -> list[str]:
    """One line a step: the command it amounts to."""
    lines = []
    for s in steps:
        if s.kind == "train":
            lines.append(command_line(s.spec["config"]))
        elif s.kind == "average":
            weights = s.spec.get("weights")
            weights = f" --weights {','.join(map(str, weights))}" if weights else ""
            weights += "".join(f" --module {name}={','.join(map(str, ws))}"
                               for name, ws in (s.spec.get("modules") or {}).items())
            lines.append(f"wsshm-rt average {' '.join(map(str, s.spec['average']))}{weights} -o {s.spec.get('out')}")
        elif s.kind == "pseudo_label":
            opts = {k: v for k, v in s.spec.items() if k not in ("pseudo_label", "models", "out")}
            lines.append(f"wsshm-rt pseudo-label {s.spec['pseudo_label']} -o {s.spec['out']} "
                         + " ".join(f"-m {m}" for m in s.spec["models"])
                         + "".join(f" --{k.replace('_', '-')} {v}" for k, v in opts.items()))
        else:
            opts = {k: v for k, v in s.spec.items() if k != "bundle"}
            lines.append(f"python -m wsshm_rt.export.bundle {s.spec['bundle']} "
                         + " ".join(f"--{k.replace('_', '-')} {v!r}" if k == "note" else f"--{k.replace('_', '-')} {v}"
                                    for k, v in opts.items()))
    return lines


def run_recipe(path, sets: dict | None = None, preset: str | None = None, only: list[str] | None = None,
               echo=print) -> list[Step]:
    """Run every step (or ``only`` these) of the recipe at ``path`` in order; each train step resumes from its
    run folder."""
    steps = load_recipe(path, sets, preset, only)
    for step, line in zip(steps, describe(steps)):
        echo(f"wsshm-rt recipe: {step.name}: {line}")
        _run(step, echo)
    return steps


def _modules(step: Step) -> dict | None:
    """An average step's ``modules: {decoder: [1, 1]}``; a mapping of module names to lists of numbers."""
    modules = step.spec.get("modules")
    if modules is None:
        return None
    if not isinstance(modules, dict) or not all(isinstance(w, list) for w in modules.values()):
        raise WsshmError(f"recipe step {step.name}: 'modules' maps module names to lists of weights, e.g. "
                         "{decoder: [1, 1]}")
    return {str(k): v for k, v in modules.items()}


def _run(step: Step, echo=print) -> None:
    if step.kind == "train":
        from .loop import train
        from .records import finished_line

        echo(f"wsshm-rt recipe: {step.name}: {finished_line(step.spec['config'], train(step.spec['config']))}")
    elif step.kind == "average":
        from .average import average_weights

        if "out" not in step.spec:
            raise WsshmError(f"recipe step {step.name}: an average needs 'out'")
        average_weights(step.spec["average"], step.spec["out"], step.spec.get("weights"), _modules(step))
    elif step.kind == "pseudo_label":
        _pseudo_label(step, echo)
    else:
        from ..export.bundle import bundle

        opts = {k: v for k, v in step.spec.items() if k not in ("bundle", "out_dir", "short_side")}
        bundle(step.spec["bundle"], step.spec.get("out_dir") or _assets(), step.spec.get("short_side"), **opts)


def _pseudo_label(step: Step, echo) -> None:
    """Label the step's folder, unless its ``out`` already holds labels of this folder by these model files (same
    bytes) with these options (a recipe run again resumes)."""
    from .pseudo import already_labelled, label_folder, open_models

    spec = step.spec
    opts = _pseudo_options(spec)
    matters = open_models([str(m) for m in spec["models"]], spec.get("tta", "flip+scale"), spec.get("short_side"))
    if already_labelled(spec["pseudo_label"], spec["out"], matters, opts):
        echo(f"wsshm-rt recipe: {step.name}: {spec['out']} already holds these labels; skipped")
        return
    s = label_folder(spec["pseudo_label"], spec["out"], matters, opts, progress=False)
    echo(f"wsshm-rt recipe: {step.name}: {s['kept']} photos labelled, {s['left_out_unsure']} left out as unsure")


def _assets():
    from ..matter import ASSETS

    return ASSETS
