"""The file system's side: image folders listed, output folders checked and created, atomic writes."""

import os

import pytest

from wsshm_rt.errors import WriteError, WsshmError
from wsshm_rt.files import IMAGE_SUFFIXES, ensure_writable, list_images, make_folder, write_atomic


def test_an_empty_folder_holds_no_images(tmp_path):
    with pytest.raises(WsshmError, match="holds no images"):
        list_images(tmp_path / "empty_dir_that_exists" if (tmp_path / "empty_dir_that_exists").mkdir() is None
                    else None)


def test_folders_files_and_patterns_are_listed_sorted(tmp_path):
    for name in ("b.PNG", "a.jpg", "notes.txt", "c.heic"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "d.png").mkdir()  # a folder named like an image is not one
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.heic"]
    assert list_images(tmp_path / "a.jpg") == [tmp_path / "a.jpg"]
    assert [p.name for p in list_images(str(tmp_path / "*.jpg"))] == ["a.jpg"]
    assert ".heic" in IMAGE_SUFFIXES and ".txt" not in IMAGE_SUFFIXES
    with pytest.raises(WsshmError, match="no images match"):
        list_images(str(tmp_path / "*.webp"))
    with pytest.raises(WsshmError, match="does not exist"):
        list_images(tmp_path / "nope")


def test_output_folders_are_created_and_checked(tmp_path):
    ensure_writable(tmp_path / "out" / "deep")
    assert (tmp_path / "out" / "deep").is_dir() and not list((tmp_path / "out" / "deep").iterdir())
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(WsshmError, match="it is a file, not a folder"):
        ensure_writable(tmp_path / "file")
    assert make_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    with pytest.raises(WriteError, match="cannot create folder"):
        make_folder(tmp_path / "file" / "sub")


def test_atomic_writes_replace_the_file_or_leave_it(tmp_path):
    path = tmp_path / "f.bin"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.bin"]
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'gone' / 'f.bin'}"):
        write_atomic(tmp_path / "gone" / "f.bin", b"x")
    assert os.listdir(tmp_path) == ["f.bin"]
