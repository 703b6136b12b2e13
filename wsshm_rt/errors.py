"""User-facing errors: one clear sentence, caught by the CLI and turned into exit code 2."""


class WsshmError(Exception):
    """An error the user can fix (bad path, corrupt image, wrong model file, missing extra)."""


class WsshmValueError(WsshmError, ValueError):
    """An argument of the right type but a wrong value (``short_side=0``, ``tta="x"``): caught as either."""


class WsshmTypeError(WsshmError, TypeError):
    """An argument of the wrong type (``short_side="512"``, ``predict_batch(None)``): caught as either."""


class WriteError(WsshmError):
    """An output could not be written (full disk, vanished folder, no permission). Unlike a bad input, it ends a
    run over many files instead of being skipped: every later write would fail the same way. Except where
    ``per_file``: the failure is this file's own (its name is too long, a folder has its name)."""

    PER_FILE_ERRNOS = (21, 36)  # EISDIR, ENAMETOOLONG

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.per_file = errno in self.PER_FILE_ERRNOS


class ModelError(WsshmError):
    """The model cannot be used: it fails to run, or gives NaN or values that are no alpha. Like a WriteError it
    ends a run over many files: every later input would fail the same way."""


class MissingDependency(WsshmError):
    """An optional dependency (an extra) is not installed."""


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``, else a WsshmError naming them all: "refine must be guided or none,
    not 'x'"."""
    if value not in choices:
        names = list(choices)
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise WsshmValueError(f"{name} must be {listed}, not {value!r}")
    return value


def check_int(name: str, value, minimum: int, maximum: int | None = None, none_ok: bool = False):
    """``value`` as an int if it is a whole number (a Python or numpy int, not a bool) in [minimum, maximum];
    None passes when ``none_ok``. Else a WsshmTypeError / WsshmValueError naming ``name``."""
    import operator

    if value is None and none_ok:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise WsshmTypeError(f"{name} must be a whole number{' or None' if none_ok else ''}, not "
                             f"{value!r} ({type(value).__name__})") from None
    if number < minimum:
        raise WsshmValueError(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise WsshmValueError(f"{name} must be at most {maximum}, not {number}")
    return number


def check_number(name: str, value, low: float, high: float, high_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number in [low, high] (or [low, high) with ``high_open``)."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WsshmTypeError(f"{name} must be a number, not {value!r} ({type(value).__name__})")
    number = float(value)
    if not (low <= number and (number < high if high_open else number <= high)):
        raise WsshmValueError(f"{name} must be in [{low:g}, {high:g}{')' if high_open else ']'}, not {value!r}")
    return number


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
