"""get_file's helpers (course_lib only): hashes, safe unpacking of tar links, Keras's cache folder.

tf.keras is compared on whole get_file calls in tests/parity/test_get_file_parity.py.
"""
import hashlib
import io
import os
import tarfile

import pytest

from course_lib.utils import file_utils


def test_hash_file_and_validate_file_choose_the_algorithm_as_keras_does(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100_000)  # more than one 65,535-byte chunk
    sha256, md5 = hashlib.sha256(b"x" * 100_000).hexdigest(), hashlib.md5(b"x" * 100_000).hexdigest()
    assert file_utils.hash_file(path) == sha256
    assert file_utils.hash_file(path, "md5") == file_utils.hash_file(path, "auto") == md5
    assert file_utils.hash_file(path, hashlib.sha1()) == hashlib.sha1(b"x" * 100_000).hexdigest()
    assert file_utils.validate_file(path, sha256) and file_utils.validate_file(path, md5)
    assert file_utils.validate_file(path, md5, algorithm="md5")
    assert not file_utils.validate_file(path, sha256, algorithm="md5")


def _tar_with(path, entries):
    with tarfile.open(path, "w") as archive:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                archive.addfile(info, io.BytesIO(value))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = value
                archive.addfile(info)


def test_tar_links_that_lead_outside_are_skipped_and_the_others_kept(tmp_path):
    archive = tmp_path / "links.tar"
    _tar_with(archive, [("dir/real.txt", "file", b"inside"),
                        ("dir/near", "symlink", "real.txt"),
                        ("dir/far", "symlink", "../../../../etc/passwd"),
                        ("dir/hard", "hardlink", "dir/real.txt"),
                        ("dir/hard_out", "hardlink", "../outside.txt"),
                        ("/absolute.txt", "file", b"no")])
    target = tmp_path / "out"
    with pytest.warns(UserWarning, match="Skipping invalid path during archive extraction") as caught:
        assert file_utils.extract_archive(archive, target, "tar")
    skipped = sorted(str(w.message).split("'")[1] for w in caught)
    assert skipped == ["/absolute.txt", "dir/far", "dir/hard_out"]
    assert (target / "dir" / "near").read_bytes() == (target / "dir" / "hard").read_bytes() == b"inside"
    assert not (tmp_path / "absolute.txt").exists()


def test_extract_archive_refuses_an_unknown_format_and_ignores_a_non_archive(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("not an archive")
    assert not file_utils.extract_archive(path, tmp_path / "out")
    assert not file_utils.extract_archive(path, tmp_path / "out", None)
    with pytest.raises(NotImplementedError, match="archive_format must be 'auto', 'tar', 'zip'.*'rar'"):
        file_utils.extract_archive(path, tmp_path / "out", "rar")


def test_keras_home_is_keras_home_or_the_home_folder_s_dot_keras(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert file_utils.keras_home() == str(tmp_path)
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert file_utils.keras_home() == os.path.join(str(tmp_path), ".keras")
    from course_lib.applications.imagenet_utils import keras_cache_folder
    from course_lib.datasets.keras_cache import datasets_folder

    assert keras_cache_folder() == os.path.join(str(tmp_path), ".keras", "models")
    assert datasets_folder() == os.path.join(str(tmp_path), ".keras", "datasets")
