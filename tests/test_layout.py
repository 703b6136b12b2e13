"""The package's shape: the public names users rely on, and the runtime kept apart from video, training, export,
bench, serving and the CLI (read from the source's imports, lazy ones included)."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wsshm_rt"
RUNTIME = ["matter.py", "preprocess.py", "tta.py", "refine.py", "frames.py", "images.py", "files.py", "image_bytes.py",
           "pixels.py", "weights.py", "model_checks.py", "onnx_weights.py", "errors.py",
           *sorted(p.relative_to(PACKAGE).as_posix() for pattern in ("engines/*.py", "compose/*.py")
                   for p in PACKAGE.glob(pattern))]
NOT_RUNTIME = re.compile(r"^wsshm_rt\.(video|training|export|bench|cli|serve)(?:$|[._])")


def imported_modules(source: str, module: str) -> set[str]:
    """Every module ``source`` (the file of dotted ``module``) imports, at the top or inside functions, absolute."""
    package = module.rsplit(".", 1)[0].split(".")
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.add(target)
            if not node.module:  # "from . import video": the names are modules
                found.update(f"{target}.{a.name}" for a in node.names)
    return found


def _module_name(rel: str) -> str:
    return "wsshm_rt." + rel.removesuffix(".py").replace("/", ".")


def test_the_import_reader_sees_lazy_and_relative_imports():
    src = "def f():\n    from ..video.sinks import x\n    from .. import training\nimport numpy\n"
    found = imported_modules(src, "wsshm_rt.engines.torch")
    assert {"wsshm_rt.video.sinks", "wsshm_rt.training", "numpy"} <= found
    assert sorted(m for m in found if NOT_RUNTIME.match(m)) == ["wsshm_rt.training", "wsshm_rt.video.sinks"]


@pytest.mark.parametrize("rel", RUNTIME)
def test_runtime_imports_no_video_training_export_bench_or_cli(rel):
    found = imported_modules((PACKAGE / rel).read_text(), _module_name(rel))
    assert not sorted(m for m in found if NOT_RUNTIME.match(m))


def test_no_module_is_over_350_lines():
    """A module that grew past 350 lines is split by what its parts do (issue 28)."""
    long = {str(p.relative_to(PACKAGE)): n for p in sorted(PACKAGE.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 350}
    assert not long


def test_public_names():
    import wsshm_rt

    assert wsshm_rt.__all__ == ["Matter", "WsshmError", "MissingDependency", "__version__"]
    for name in wsshm_rt.__all__:
        assert getattr(wsshm_rt, name) is not None
    public = {n for n in dir(wsshm_rt.Matter) if not n.startswith("_")}
    assert {"predict", "predict_batch", "cutout", "replace_background", "stream", "info", "metadata"} <= public


def test_cli_command_names():
    """`wsshm-rt --help` keeps every command users have (new ones may be added)."""
    import typer.main

    from wsshm_rt.cli import app

    group = typer.main.get_command(app)
    assert {"predict", "demo", "video", "webcam", "train", "eval", "export", "bench", "average"} <= set(group.commands)
    assert {"pretrain", "teacher", "student", "recipe"} <= set(group.commands["train"].commands)
