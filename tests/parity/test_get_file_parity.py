"""``get_file`` through tf.keras and course_lib, from ``file://`` URLs and a server on localhost.

Each library gets its own cache folder (``cache_dir``); the test compares
where each put the file (relative to its cache), what it wrote, what it
printed or warned, and the errors, for plain files, archives (tar.gz and zip,
with and without ``fname``), hashes (SHA-256, MD5, wrong ones, a stale cached
file), ``force_download`` and bad arguments. Nothing leaves this machine.
"""
import hashlib
import http.server
import io
import os
import tarfile
import threading
import warnings
import zipfile

import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

LIBRARIES = {"keras": keras, "ours": cl}


@pytest.fixture
def sources(tmp_path):
    """A folder of files to fetch: a text file, a tar.gz and a zip of two members."""
    folder = tmp_path / "origin"
    folder.mkdir()
    (folder / "notes.txt").write_bytes(b"the same bytes for both libraries\n" * 50)
    members = {"data/a.txt": b"first member", "data/b.txt": b"second member"}
    with tarfile.open(folder / "pack.tar.gz", "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    with zipfile.ZipFile(folder / "pack.zip", "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return folder


def _tree(root):
    """Every file under ``root``, relative path -> bytes."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as stream:
                found[os.path.relpath(path, root)] = stream.read()
    return found


def _both(tmp_path, capsys, **kwargs):
    """Run get_file with ``kwargs`` in each library, each with its own cache; what each did."""
    done = {}
    for label, lib in LIBRARIES.items():
        cache = tmp_path / f"cache_{label}"
        cache.mkdir(exist_ok=True)  # as Keras, a cache_dir that cannot be written to means /tmp/.keras
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = os.path.relpath(lib.utils.get_file(cache_dir=str(cache), **kwargs), cache)
            except Exception as error:  # the error type and message are compared
                result = (type(error).__name__, str(error).replace(str(cache), "<cache>"))
        printed = capsys.readouterr().out.replace(str(cache), "<cache>")
        said = [str(w.message) for w in caught if str(w.message).startswith(("Skipping", "Could not extract"))]
        done[label] = (result, _tree(cache), printed.splitlines()[:1], said)
    return done


def _same(done):
    assert done["ours"] == done["keras"]
    return done["ours"]


def test_a_plain_file_lands_where_keras_puts_it_and_is_not_fetched_twice(sources, tmp_path, capsys):
    origin = (sources / "notes.txt").as_uri()
    result, files, printed, _ = _same(_both(tmp_path, capsys, origin=origin))
    assert result == os.path.join("datasets", "notes.txt") and printed == [f"Downloading data from {origin}"]
    assert files[result] == (sources / "notes.txt").read_bytes()
    result, _, printed, _ = _same(_both(tmp_path, capsys, origin=origin))  # cached: nothing printed
    assert printed == []
    _same(_both(tmp_path, capsys, origin=origin, fname="renamed.txt", cache_subdir="elsewhere"))
    _, _, printed, _ = _same(_both(tmp_path, capsys, origin=origin, force_download=True))
    assert printed == [f"Downloading data from {origin}"]


@pytest.mark.parametrize("archive", ["pack.tar.gz", "pack.zip"])
@pytest.mark.parametrize("fname", [None, "bundle", "bundle.tar.gz"])
def test_archives_are_unpacked_into_keras_s_folders(sources, tmp_path, capsys, archive, fname):
    result, files, _, _ = _same(_both(tmp_path, capsys, origin=(sources / archive).as_uri(), fname=fname,
                                      extract=True))
    assert files[os.path.join(result, "data", "a.txt")] == b"first member"


def test_untar_is_extract_with_the_tar_format(sources, tmp_path, capsys):
    result, files, _, _ = _same(_both(tmp_path, capsys, origin=(sources / "pack.tar.gz").as_uri(), untar=True))
    assert os.path.join(result, "data", "b.txt") in files
    # a zip is no tar: both warn that nothing could be extracted
    _, _, _, said = _same(_both(tmp_path, capsys, origin=(sources / "pack.zip").as_uri(), fname="z", untar=True))
    assert said == ["Could not extract archive."]


def test_hashes_are_checked_as_keras_checks_them(sources, tmp_path, capsys):
    origin = (sources / "notes.txt").as_uri()
    content = (sources / "notes.txt").read_bytes()
    sha256, md5 = hashlib.sha256(content).hexdigest(), hashlib.md5(content).hexdigest()
    _same(_both(tmp_path, capsys, origin=origin, file_hash=sha256))
    _same(_both(tmp_path, capsys, origin=origin, fname="md5.txt", md5_hash=md5))
    _same(_both(tmp_path, capsys, origin=origin, fname="auto.txt", file_hash=md5))
    wrong = _same(_both(tmp_path, capsys, origin=origin, fname="wrong.txt", file_hash="0" * 64))
    assert wrong[0][0] == "ValueError" and "Incomplete or corrupted file detected" in wrong[0][1]
    # a cached file whose hash no longer matches is fetched again, with Keras's message
    for label in LIBRARIES:
        (tmp_path / f"cache_{label}" / "datasets" / "notes.txt").write_bytes(b"truncated")
    _, files, printed, _ = _same(_both(tmp_path, capsys, origin=origin, file_hash=sha256))
    assert printed[0].startswith("A local file was found, but it seems to be incomplete or outdated")
    assert files[os.path.join("datasets", "notes.txt")] == content


def test_bad_arguments_and_failed_fetches_give_keras_s_errors_and_leave_no_partial_file(sources, tmp_path, capsys):
    for kwargs in ({"fname": "x"},  # no origin
                   {"origin": "file:///"},  # no file name in the URL
                   {"origin": (sources / "notes.txt").as_uri(), "fname": os.path.join("sub", "x.txt")},
                   {"origin": (sources / "absent.txt").as_uri()}):
        result, files, _, _ = _same(_both(tmp_path, capsys, **kwargs))
        assert isinstance(result, tuple) and files == {}


def test_members_that_would_land_outside_the_folder_are_skipped_with_keras_s_warning(tmp_path, capsys):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../outside.txt", b"escaped")
        archive.writestr("inside.txt", b"kept")
    result, files, _, said = _same(_both(tmp_path, capsys, origin=evil.as_uri(), extract=True))
    assert said == ["Skipping invalid path during archive extraction: '../outside.txt'."]
    assert files[os.path.join(result, "inside.txt")] == b"kept"
    assert not (tmp_path / "cache_ours" / "datasets" / "outside.txt").exists()


def test_a_file_served_over_http_on_localhost_arrives_whole(sources, tmp_path, capsys):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(sources), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        result, files, _, _ = _same(_both(tmp_path, capsys, origin=f"{base}/notes.txt"))
        assert files[result] == (sources / "notes.txt").read_bytes()
        missing = _same(_both(tmp_path, capsys, origin=f"{base}/nothing.txt"))
        assert missing[0] == ("Exception", f"URL fetch failure on {base}/nothing.txt: 404 -- File not found")
    finally:
        server.shutdown()
        server.server_close()
