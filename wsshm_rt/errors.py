"""User-facing errors: one clear sentence, caught by the CLI and turned into exit code 2."""


class WsshmError(Exception):
    """An error the user can fix (bad path, corrupt image, wrong model file, missing extra)."""


class WriteError(WsshmError):
    """An output could not be written (full disk, vanished folder, no permission). Unlike a bad input, it ends a
    run over many files instead of being skipped: every later write would fail the same way."""


class MissingDependency(WsshmError):
    """An optional dependency (an extra) is not installed."""


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``, else a WsshmError naming them all: "refine must be guided or none,
    not 'x'"."""
    if value not in choices:
        names = list(choices)
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise WsshmError(f"{name} must be {listed}, not {value!r}")
    return value


def require(module: str, extra: str, package: str | None = None):
    """Import ``module`` or raise a MissingDependency naming the exact pip line.

    Used for everything outside the runtime core (torch, timm, onnx, av, tensorrt ...).
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = package or module.split(".")[0]
        raise MissingDependency(
            f"{what} is not installed; install it with: pip install 'wsshm-rt[{extra}]'"
        ) from exc
