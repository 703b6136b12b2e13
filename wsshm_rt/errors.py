"""User-facing errors: one clear sentence, caught by the CLI and turned into exit code 2."""


class WsshmError(Exception):
    """An error the user can fix (bad path, corrupt image, wrong model file, missing extra)."""


class MissingDependency(WsshmError):
    """An optional dependency (an extra) is not installed."""


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
