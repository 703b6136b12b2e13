"""TensorRT: the pure parts (cache key, shapes, sidecar, missing-extra errors) here; the GPU parts skip cleanly."""

import importlib.util
import json

import numpy as np
import pytest

from wsshm_rt.engines.tensorrt import read_sidecar
from wsshm_rt.errors import MissingDependency, WsshmError
from wsshm_rt.export.tensorrt import ShapeProfile, engine_cache_key, file_sha256, parse_shape

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def _has_cuda():
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def test_cache_key_names_everything_that_makes_an_engine_unportable():
    base = dict(onnx_sha256="ab" * 32, gpu_name="NVIDIA H100 80GB HBM3", trt_version="10.3.0")
    key = engine_cache_key(**base)
    assert key.startswith("abababababababab-nvidia-h100-80gb-hbm3-trt10.3.0-fp32-")
    assert all(c.isalnum() or c in "-._" for c in key)
    variants = [engine_cache_key(**{**base, "gpu_name": "Tesla V100"}),
                engine_cache_key(**{**base, "trt_version": "10.4.0"}),
                engine_cache_key(**{**base, "onnx_sha256": "cd" * 32}),
                engine_cache_key(**base, fp16=True), engine_cache_key(**base, int8=True),
                engine_cache_key(**base, profile=ShapeProfile(max=(4, 3, 1024, 1024)))]
    assert len({key, *variants}) == 7
    assert engine_cache_key(**base) == key  # deterministic


def test_file_hash(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    p.write_bytes(b"abd")  # rewritten in place, same size: the new bytes' digest
    assert file_sha256(p) == "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9"


def test_shapes_and_profile_validation():
    assert parse_shape("1x3x512x768") == (1, 3, 512, 768)
    for bad in ("512x512", "1x3xAx5"):
        with pytest.raises(WsshmError):
            parse_shape(bad)
    with pytest.raises(WsshmError, match="min <= opt <= max"):
        ShapeProfile(min=(1, 3, 512, 512), opt=(1, 3, 256, 256))
    with pytest.raises(WsshmError, match=r"\(N, 3, H, W\)"):
        ShapeProfile(min=(1, 4, 64, 64))


def test_sidecar_metadata(tmp_path):
    engine = tmp_path / "m.engine"
    assert read_sidecar(engine) == {}
    (tmp_path / "m.engine.json").write_text(json.dumps({"architecture": "r18", "mean": "[0.5, 0.5, 0.5]"}))
    assert read_sidecar(engine)["architecture"] == "r18"
    (tmp_path / "m.engine.json").write_text("{not json")
    with pytest.raises(WsshmError, match="not valid JSON"):
        read_sidecar(engine)


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed: the missing-extra message cannot be shown")
def test_missing_tensorrt_names_the_pip_line(tmp_path, tiny_onnx):
    from wsshm_rt.export.tensorrt import build_engine

    with pytest.raises(MissingDependency, match=r"pip install 'wsshm-rt\[tensorrt\]'"):
        build_engine(tiny_onnx, tmp_path / "m.engine")
    fake = tmp_path / "m.engine"
    fake.write_bytes(b"not an engine")
    from wsshm_rt import Matter

    with pytest.raises(MissingDependency, match=r"pip install 'wsshm-rt\[tensorrt\]'"):
        Matter(fake)


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed: the missing-extra message cannot be shown")
@pytest.mark.parametrize("argv", [["build-engine", "{onnx}", "-o", "{out}"],
                                  ["export", "--model", "r18-0.5", "--format", "tensorrt", "-o", "{out}"]])
def test_cli_without_tensorrt_exits_2_with_the_pip_line(tmp_path, tiny_onnx, capsys, argv):
    from wsshm_rt.cli import main

    args = [a.format(onnx=tiny_onnx, out=tmp_path / "m.engine") for a in argv]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "wsshm-rt: error: tensorrt is not installed; install it with: pip install 'wsshm-rt[tensorrt]'"
    assert not (tmp_path / "m.engine").exists()


needs_gpu_trt = pytest.mark.skipif(not (HAS_TRT and _has_cuda()),
                                   reason="needs the tensorrt package and an NVIDIA GPU (none on this machine)")


@needs_gpu_trt
def test_engine_build_parity_cache_and_matter(tmp_path, tiny_onnx):
    from wsshm_rt import Matter
    from wsshm_rt.export.tensorrt import build_engine, check_parity

    profile = ShapeProfile(min=(1, 3, 64, 64), opt=(1, 3, 64, 64), max=(2, 3, 128, 128))
    path = build_engine(tiny_onnx, tmp_path / "m.engine", profile=profile, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.engine"))) == 1
    assert check_parity(path, tiny_onnx, (2, 3, 96, 64))["max_abs"] < 1e-3
    again = build_engine(tiny_onnx, tmp_path / "again.engine", profile=profile, cache_dir=tmp_path / "cache")
    assert again.read_bytes() == path.read_bytes()  # served from the cache
    matter = Matter(path, short_side=64)
    assert matter.engine.name == "tensorrt" and matter.metadata["architecture"] == "r18-0.5"
    alpha = matter.predict(np.zeros((70, 90, 3), np.uint8))
    assert alpha.shape == (70, 90)
    with pytest.raises(WsshmError, match="outside this engine's profile"):
        matter.engine.run(np.zeros((1, 3, 256, 256), np.float32))


@needs_gpu_trt
def test_fp16_engine_parity(tmp_path, tiny_onnx):
    from wsshm_rt.export.tensorrt import build_engine, check_parity

    profile = ShapeProfile(min=(1, 3, 64, 64), opt=(1, 3, 64, 64), max=(1, 3, 64, 64))
    path = build_engine(tiny_onnx, tmp_path / "h.engine", fp16=True, profile=profile, use_cache=False)
    assert check_parity(path, tiny_onnx, (1, 3, 64, 64))["max_abs"] < 2e-2


@needs_gpu_trt
def test_int8_engine_calibrates_on_a_folder(tmp_path, tiny_onnx):
    import cv2

    from conftest import make_portrait
    from wsshm_rt.export.tensorrt import build_engine, check_parity

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        cv2.imwrite(str(photos / f"p{i}.jpg"), make_portrait(80, 64, seed=i)[0][:, :, ::-1])
    profile = ShapeProfile(min=(1, 3, 64, 64), opt=(1, 3, 64, 64), max=(1, 3, 64, 64))
    path = build_engine(tiny_onnx, tmp_path / "q.engine", int8=True, calibration=photos, profile=profile,
                        cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.calib"))) == 1  # the calibrator ran and wrote its cache
    assert read_sidecar(path)["tensorrt_precision"] == "int8"
    assert check_parity(path, tiny_onnx, (1, 3, 64, 64))["mean_abs"] < 5e-2
