import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_does_not_import_torch():
    code = ("import sys, wsshm_rt, wsshm_rt.cli, wsshm_rt.matter, wsshm_rt.predict\n"
            "wsshm_rt.Matter\n"
            "print(sorted(m for m in ('torch', 'timm', 'onnx', 'av', 'openvino') if m in sys.modules))")
    assert _run(code) == "[]"


def test_version_command():
    out = subprocess.run([sys.executable, "-m", "wsshm_rt", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("wsshm-rt ")
