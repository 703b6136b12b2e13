"""wsshm-rt: real-time human matting with a label-efficient trainer.

``import wsshm_rt`` is light: it never imports torch. Heavy parts load on first use.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .errors import MissingDependency, WsshmError

try:
    __version__ = _version("wsshm-rt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

__all__ = ["Matter", "WsshmError", "MissingDependency", "__version__"]


def __getattr__(name):
    # Lazy so that `import wsshm_rt` stays cheap (no onnxruntime / cv2 until needed).
    if name == "Matter":
        from .matter import Matter

        return Matter
    raise AttributeError(f"module 'wsshm_rt' has no attribute {name!r}")
