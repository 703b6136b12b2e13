import json

import pytest
import torch

from wsshm_rt.errors import WsshmError
from wsshm_rt.weights import load_weights, make_metadata, read_metadata, resolve_weights_path, save_weights


def test_roundtrip_and_metadata(tmp_path):
    state = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4)}
    path = save_weights(state, tmp_path / "w.safetensors", make_metadata("r18", (0.5,) * 3, (0.25,) * 3, step=7))
    loaded, meta = load_weights(tmp_path / "w")  # the suffix may be left off
    assert torch.equal(loaded["a"], state["a"]) and torch.equal(loaded["b"], state["b"])
    assert meta["architecture"] == "r18" and json.loads(meta["mean"]) == [0.5] * 3 and meta["step"] == "7"
    assert read_metadata(path) == meta
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left nothing behind


@pytest.mark.parametrize("legacy", [False, True])
def test_pickle_is_refused(tmp_path, legacy):
    torch.save({"a": torch.ones(1)}, tmp_path / "evil.safetensors", _use_new_zipfile_serialization=not legacy)
    with pytest.raises(WsshmError, match="never unpickles"):
        load_weights(tmp_path / "evil.safetensors")


def test_a_header_length_starting_with_the_pickle_byte_is_still_safetensors(tmp_path):
    """The 8-byte header length's first byte is 0x80 for one safetensors file in 256: it was taken for a pickle's
    PROTO opcode and the bundled round-9 + 10 model was refused."""
    for pad in range(0, 512, 3):
        path = save_weights({"a": torch.ones(2)}, tmp_path / "w.safetensors",
                            make_metadata("r18", (0.5,) * 3, (0.25,) * 3, note="x" * pad))
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no header length with a first byte of 0x80 in the range tried")
    loaded, meta = load_weights(path)
    assert torch.equal(loaded["a"], torch.ones(2)) and meta["note"] == "x" * pad


def test_wrong_files_are_refused(tmp_path):
    (tmp_path / "notes.safetensors").write_text("hello, this is not a model file at all")
    with pytest.raises(WsshmError, match="not a safetensors"):
        read_metadata(tmp_path / "notes.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.ones(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(WsshmError, match="not a wsshm-rt model"):
        read_metadata(tmp_path / "foreign.safetensors")
    with pytest.raises(WsshmError, match="does not exist"):
        resolve_weights_path(tmp_path / "missing")


def test_a_failed_write_keeps_the_old_file_and_says_why(tmp_path, file_size_limit):
    meta = make_metadata("r18", (0.5,) * 3, (0.25,) * 3)
    path = save_weights({"a": torch.ones(3)}, tmp_path / "w.safetensors", meta)
    with file_size_limit(4096), pytest.raises(WsshmError, match=r"cannot write .*w\.safetensors \(File too large\)"):
        save_weights({"a": torch.zeros(100_000)}, path, meta)
    assert torch.equal(load_weights(path)[0]["a"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(WsshmError, match="cannot create folder .*blocker"):
        save_weights({"a": torch.ones(3)}, tmp_path / "blocker" / "sub" / "w.safetensors", meta)


def test_the_same_weights_give_the_same_file_bytes_in_every_process(tmp_path):
    """safetensors writes its metadata in hash order, which changes from process to process: saved files are put
    in one order, so two runs that end with the same tensors also have the same file (and sha256)."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    code = ("import sys, torch; from wsshm_rt.weights import make_metadata, save_weights; "
            "save_weights({'w': torch.arange(6.0).reshape(2, 3), 'n': torch.ones(2, dtype=torch.int64)}, sys.argv[1], "
            "make_metadata('r18-0.5', (0.5,) * 3, (0.25,) * 3, stage='student', step=7, note='n', short_side=320))")
    files = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for i, f in enumerate(files):
        subprocess.run([sys.executable, "-c", code, str(f)], check=True, env={**__import__("os").environ,
                                                                           "PYTHONHASHSEED": str(i + 1)})
    assert len({f.read_bytes() for f in files}) == 1
    state, meta = load_weights(files[0])
    assert meta["step"] == "7" and state["w"][1, 2] == 5.0


def test_a_folder_without_weights_says_so(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(WsshmError, match="run is a folder with no weights in it"):
        resolve_weights_path(tmp_path / "run")
    with pytest.raises(WsshmError, match="gone does not exist"):
        resolve_weights_path(tmp_path / "gone")

