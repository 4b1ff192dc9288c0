"""``keras.utils.get_file``: fetch a file into Keras's cache once, check its hash, unpack an archive safely.

The cache is Keras's own (``$KERAS_HOME`` or ``~/.keras``, sub-folder
``datasets`` by default), so a file fetched here is the file the loaders of
:mod:`course_lib.datasets` read, and the other way round. Nothing is fetched
when the file is already there (unless its hash does not match, or
``force_download=True``). ``origin`` is any URL ``urllib`` opens:
``https://``, ``http://`` or ``file://``, which is how the tests and an
offline classroom use it.

As Keras's: the name comes from the URL when ``fname`` is not given; a
``fname`` with a path in it is refused; with ``extract=True`` the download is
kept as ``<name>_archive`` (or under ``fname`` when that has an extension)
and unpacked into ``<name>`` (or ``<fname stem>_extracted``), whose path is
returned; members that would land outside that folder (``../x``, absolute
paths, links leading out) are skipped with a warning; a failed download leaves
no partial file behind; the hash is SHA-256 when it has 64 hex digits and MD5
otherwise, unless ``hash_algorithm`` says which.

course_lib's own build, tests and grading never fetch anything from a network.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

from course_lib.utils.progbar import Progbar, print_msg


def keras_home():
    """Keras's folder: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when the home folder is read-only)."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    home = os.path.expanduser("~")
    return os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")


def _hasher(algorithm, file_hash=None):
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5()  # "md5", and "auto" for any other length (Keras's legacy rule)


def hash_file(fpath, algorithm="sha256", chunk_size=65535):
    """The hex digest of a file, read ``chunk_size`` bytes at a time.

    Args:
        fpath: the file.
        algorithm: ``"sha256"``, ``"md5"`` (or ``"auto"``: MD5), or a ``hashlib`` object.
    """
    hasher = _hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    """Whether the file's hash is ``file_hash`` (SHA-256 for 64 hex digits under ``"auto"``, else MD5)."""
    return str(hash_file(fpath, _hasher(algorithm, file_hash), chunk_size)) == str(file_hash)


def _inside(base, relative):
    """The resolved path of ``relative`` under the resolved folder ``base``, or None when it leads outside."""
    path = os.path.realpath(os.path.join(base, relative))
    try:
        return path if os.path.commonpath([path, base]) == base else None
    except ValueError:  # another drive (Windows)
        return None


def _tar_member_is_safe(member, base):
    if member.islnk():  # a hard link's target is relative to the archive's root
        return _inside(base, member.name) is not None and _inside(base, member.linkname) is not None
    destination = _inside(base, member.name)
    if destination is None:
        return False
    if member.issym():  # a symbolic link's target is relative to the link's own folder
        target = os.path.realpath(os.path.join(os.path.dirname(destination), member.linkname))
        try:
            return os.path.commonpath([target, base]) == base
        except ValueError:
            return False
    return True


def _safe_members(members, base, is_safe, name_of):
    for member in members:
        if is_safe(member):
            yield member
        else:
            warnings.warn(f"Skipping invalid path during archive extraction: '{name_of(member)}'.", stacklevel=2)


def extract_archive(file_path, path=".", archive_format="auto"):
    """Unpack a tar (plain, gzip, bzip2, xz) or zip archive into ``path``, skipping unsafe members.

    Args:
        archive_format: ``"auto"`` (tar, then zip), ``"tar"``, ``"zip"``, a list of those, or None.

    Returns:
        True when the file was an archive of one of those formats and was unpacked, else False.
    """
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    file_path, path = os.fspath(file_path), os.fspath(path)
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise NotImplementedError(  # Keras's type, with a message that says what is known
                f"extract_archive: archive_format must be 'auto', 'tar', 'zip', a list of those, or None. "
                f"Received: {kind!r}"
            )
        if not (tarfile.is_tarfile(file_path) if kind == "tar" else zipfile.is_zipfile(file_path)):
            continue
        base = os.path.realpath(path)
        try:
            if kind == "zip":
                with zipfile.ZipFile(file_path) as archive:
                    archive.extractall(path, members=_safe_members(
                        archive.infolist(), base, lambda m: _inside(base, m.filename) is not None,
                        lambda m: m.filename))
            else:
                with tarfile.open(file_path) as archive:
                    # "data": no device files, no setuid bits (Python >= 3.11.4; the default from 3.14)
                    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                    archive.extractall(path, members=_safe_members(
                        archive, base, lambda m: _tar_member_is_safe(m, base), lambda m: m.name), **extra)
        except (tarfile.TarError, RuntimeError, KeyboardInterrupt):
            if os.path.isfile(path):
                os.remove(path)
            elif os.path.exists(path):
                shutil.rmtree(path)
            raise
        return True
    return False


class _DownloadProgress:
    """urlretrieve's report hook: a byte count on Keras's progress bar (no total when the server sends none)."""

    def __init__(self):
        self.bar, self.finished = None, False

    def __call__(self, block, block_size, total_size):
        total = None if total_size == -1 else total_size
        if self.bar is None:
            self.bar = Progbar(total)
        done = block * block_size
        if total is None or done < total:
            self.bar.update(done)
        elif not self.finished:
            self.bar.update(self.bar.target)
            self.finished = True


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Fetch ``origin`` into Keras's cache unless it is there already; return its local path.

    Args:
        fname: the local file name (default: the URL's last part). With
            ``extract=True`` a name without an extension names the folder the
            archive is unpacked into.
        origin: the URL (``https://``, ``http://``, ``file://``).
        untar: deprecated: ``extract=True`` with ``archive_format="tar"``.
        md5_hash: deprecated: ``file_hash`` with ``hash_algorithm="md5"``.
        file_hash: the expected SHA-256 or MD5 hex digest; a cached file that
            does not match is fetched again, a fetched one that does not match
            is a ValueError.
        cache_subdir: the sub-folder of the cache (an absolute path is used as is).
        hash_algorithm: ``"auto"``, ``"sha256"`` or ``"md5"``.
        extract: unpack a tar or zip archive and return the folder.
        archive_format: ``"auto"``, ``"tar"``, ``"zip"``, a list of those, or None.
        cache_dir: the cache's root (default :func:`keras_home`).
        force_download: fetch even when the file is cached.

    Returns:
        The path of the file, or of the folder it was unpacked into.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = os.path.expanduser(os.fspath(keras_home() if cache_dir is None else cache_dir))
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    folder = os.path.join(base, cache_subdir)
    os.makedirs(folder, exist_ok=True)

    given = fname
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"Can't parse the file name from the origin provided: '{origin}'.Please specify the `fname` argument."
            )
    elif os.sep in fname:
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify the file's parent directory, use "
            f"the `cache_dir` argument. Received: fname={fname}"
        )

    unpacking = bool(extract or untar)
    if unpacking and given and "." in fname:
        target = os.path.join(folder, fname)
        unpacked = os.path.join(folder, f"{fname[:fname.find('.')]}_extracted")
    elif unpacking:
        target, unpacked = os.path.join(folder, f"{fname}_archive"), os.path.join(folder, fname)
    else:
        target = os.path.join(folder, fname)

    fetch = force_download or not os.path.exists(target)
    if not fetch and file_hash is not None and not validate_file(target, file_hash, algorithm=hash_algorithm):
        print_msg(f"A local file was found, but it seems to be incomplete or outdated because the {hash_algorithm} "
                  f"file hash does not match the original value of {file_hash} so we will re-download the data.")
        fetch = True
    if fetch:
        print_msg(f"Downloading data from {origin}")
        failure = "URL fetch failure on {}: {} -- {}"
        try:
            try:
                urllib.request.urlretrieve(origin, target, _DownloadProgress())
            except urllib.error.HTTPError as error:
                raise Exception(failure.format(origin, error.code, error.msg))
            except urllib.error.URLError as error:
                raise Exception(failure.format(origin, error.errno, error.reason))
        except (Exception, KeyboardInterrupt):
            if os.path.exists(target):
                os.remove(target)  # no partial file may pass for a cached one
            raise
        if file_hash is not None and not validate_file(target, file_hash, algorithm=hash_algorithm):
            raise ValueError(f"Incomplete or corrupted file detected. The {hash_algorithm} file hash does not "
                             f"match the provided value of {file_hash}.")
    if unpacking:
        if not extract_archive(target, unpacked, "tar" if untar else archive_format):
            warnings.warn("Could not extract archive.", stacklevel=2)
        return unpacked
    return target
