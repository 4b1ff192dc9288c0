"""The sandboxed child of the trusted grader: runs a student's cells, answers calls, nothing else.

Started by :mod:`course_lib.grading.trusted` as ``python -I sandbox.py`` (a
script, so that ``course_lib`` and its reference kernels are never imported
here) in a scratch directory of its own. It reads length-prefixed pickled
messages on stdin and answers on the stdout it was started with; the
student's own prints go to a bounded buffer and never reach the grader.

Before any student code runs it sets resource limits (CPU time, memory, file
size, open files) and an audit hook (PEP 578) that refuses: opening files for
writing outside the scratch directory; reading the course directory (except
the two course_lib files the notebooks load data with) or course_lib's own
folder wherever it is installed (a course directory apart from the checkout
an editable install points at); opening a directory and relative paths that
climb with '..' (either would let ``dir_fd`` resolve a path the hook never
saw); starting processes, sending signals, sockets, loading C libraries
through ctypes, and importing course_lib's reference code. An audit hook
cannot be removed from Python code; what it cannot stop (a bug in CPython or
in a C extension that is exploited on purpose) is out of scope, see the
instructor's guide.

Standard library and NumPy only, on purpose.
"""
import io
import os
import pickle
import struct
import sys
import types

OUTPUT_LIMIT = 20_000  # characters of the student's own output kept (for nothing but a note)


def _send(channel, message):
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    channel.write(struct.pack("<Q", len(data)) + data)
    channel.flush()


def _receive(channel):
    header = channel.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("<Q", header)
    return pickle.loads(channel.read(size))


class _BoundedText(io.TextIOBase):
    def __init__(self, limit):
        self.parts, self.size, self.limit = [], 0, limit

    def writable(self):
        return True

    def write(self, text):
        if self.size < self.limit:
            kept = text[: self.limit - self.size]
            self.parts.append(kept)
            self.size += len(kept)
        return len(text)


def _limits(limits):
    import resource

    for name, value in limits.items():
        kind = getattr(resource, name)
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass  # a limit this system does not allow lowering (documented in the guide)


def _install_hook(scratch, readable, course_directory, library_folders, blocked_modules):
    """Nothing in ``course_directory`` may be read but the ``readable`` folders and the interpreter's
    own files, nothing in ``library_folders`` (course_lib's, wherever it is installed: in the site
    packages, or a checkout apart from the course directory) but the ``readable`` folders."""
    import site

    scratch = os.path.realpath(scratch)
    readable = tuple(os.path.realpath(path) for path in readable)
    # The interpreter's own files stay readable even where the environment lives inside the course directory.
    interpreter = tuple(os.path.realpath(path) for path in
                        [sys.prefix, sys.base_prefix, sys.exec_prefix] + site.getsitepackages())
    course_directory = os.path.realpath(course_directory) if course_directory else None
    library_folders = tuple(os.path.realpath(path) for path in library_folders)
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    refused = {
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "os.kill", "os.killpg", "signal.pthread_kill", "socket.__new__", "socket.connect", "socket.bind",
        "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.symlink", "os.link", "os.chmod", "os.chown",
        "sys.setprofile", "sys.settrace", "os.putenv", "os.unsetenv",
    }
    path_events = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "os.utime",
                   "os.chdir", "shutil.rmtree", "os.listdir", "os.scandir"}

    def inside(path, root):
        return path == root or path.startswith(root + os.sep)

    def check_path(path, write, opening=False):
        if isinstance(path, int):
            return  # an open file's descriptor: no directory descriptor can be had (see below)
        given = os.fsdecode(path)
        # The audit events do not report `dir_fd`: with a directory descriptor a relative path would
        # be resolved from that directory, not from the working directory this hook resolves it
        # from. So no directory is ever opened, and no relative path may climb with '..'.
        if not os.path.isabs(given) and os.pardir in given.replace(os.sep, "/").split("/"):
            raise PermissionError(f"the grader's sandbox refuses relative paths with '..' ({given}); "
                                  "use an absolute path")
        real = os.path.realpath(given)
        if opening and os.path.isdir(real):
            raise PermissionError(f"the grader's sandbox refuses to open a directory ({real})")
        if inside(real, scratch):
            return
        if write:
            raise PermissionError(f"the grader's sandbox refuses to write {real}")
        if any(inside(real, r) for r in readable):
            return
        if any(inside(real, folder) for folder in library_folders) or (
                course_directory and inside(real, course_directory) and not any(inside(real, r) for r in interpreter)):
            raise PermissionError(f"the grader's sandbox refuses to read the course's files ({real})")

    def hook(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None))[:3]
            write = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & writing_flags
            )
            check_path(path, bool(write), opening=True)
        elif event in refused:
            raise PermissionError(f"the grader's sandbox refuses {event}")
        elif event in path_events:
            write = event not in ("os.listdir", "os.scandir", "os.chdir")
            check_path(args[0] if args else ".", write)
            if len(args) > 1 and event == "os.rename":
                check_path(args[1], True)
        elif event == "import":
            name = args[0] or ""
            if any(name == blocked or name.startswith(blocked + ".") for blocked in blocked_modules):
                raise ImportError(f"{name} is not available while your work is graded")

    sys.addaudithook(hook)


def _installed(package):
    """The folders this interpreter would import ``package`` from (found, not imported)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    return list(spec.submodule_search_locations or []) if spec else []


def _stub_course_lib(datasets_file, library=False):
    """A `course_lib` with only what the notebooks import: the data loader and an inert grading module.

    With ``library`` (a notebook that builds models with course_lib) the real
    package is imported when a cell asks for it; only the grading module is
    the inert stand-in.
    """
    import importlib.util

    grading = types.ModuleType("course_lib.grading")

    def not_while_graded(*args, **kwargs):
        print("(the self-checks do not run while the notebook is graded)")

    grading.__getattr__ = lambda name: not_while_graded
    sys.modules["course_lib.grading"] = grading
    if library:
        return
    package = types.ModuleType("course_lib")
    package.__path__ = []
    datasets = types.ModuleType("course_lib.datasets")
    datasets.__path__ = []
    spec = importlib.util.spec_from_file_location("course_lib.datasets.digits", datasets_file)
    digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits)
    datasets.digits = digits
    package.datasets, package.grading = datasets, grading
    sys.modules.update({"course_lib": package, "course_lib.datasets": datasets,
                        "course_lib.datasets.digits": digits})


def _run_cells(cells, namespace, channel):
    """Run each cell like a kernel would; a failing cell is noted and the next one runs.

    The grader is told which cell starts, so that a cell that ends the process
    or never finishes can be left out of the next try.
    """
    failures = []
    for index, (label, source) in enumerate(cells):
        _send(channel, ("running", index))
        try:
            exec(compile(source, f"<{label}>", "exec"), namespace)
        except BaseException as error:  # SystemExit, KeyboardInterrupt from a student's cell too
            failures.append(f"{label}: {type(error).__name__}: {str(error)[:300]}")
    return failures


def _call(namespace, name, args, kwargs):
    function = namespace.get(name)
    if function is None:
        return ("missing",)
    if not callable(function):
        return ("not_callable", type(function).__name__)
    identities = [{key: id(value) for key, value in arg.items()} if isinstance(arg, dict) else None for arg in args]
    try:
        result = function(*args, **kwargs)
    except BaseException as error:
        return ("raised", type(error).__name__, str(error)[:500])
    if callable(getattr(result, "to_json", None)) and callable(getattr(result, "get_weights", None)):
        # A model cannot cross to the grader: its architecture and weights do (the grader rebuilds it).
        try:
            result = {"model_json": result.to_json(), "weights": list(result.get_weights())}
        except BaseException as error:
            return ("raised", type(error).__name__, f"while describing the returned model: {str(error)[:400]}")
    # What the call did to its arguments, so that the grader sees in-place updates as such.
    after = []
    for arg, before in zip(args, identities):
        if callable(arg):
            # A function the grader passed in (the f of a numerical gradient) changes nothing to mirror,
            # and the grader's unpickler accepts arrays and containers only.
            after.append(None)
        elif before is None:
            after.append(arg)
        else:
            after.append({key: (value, id(value) == before.get(key)) for key, value in arg.items()})
    return ("ok", result, after)


def main():
    channel_in = sys.stdin.buffer
    channel_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    captured = _BoundedText(OUTPUT_LIMIT)
    sys.stdout = sys.stderr = captured
    job = _receive(channel_in)
    os.chdir(job["scratch"])
    import numpy  # noqa: F401  (imported before the hook: it reads CPU details at import time)

    # Where this interpreter finds course_lib (normally the grader's own copy): readable where the
    # notebook builds with it, refused like the grader's copy elsewhere.
    installed = _installed("course_lib")
    readable = job["readable"] + (installed if job["library"] else [])
    library_folders = [job["library_folder"]] + ([] if job["library"] else installed)
    _stub_course_lib(job["datasets_file"], job["library"])
    _limits(job["limits"])
    _install_hook(job["scratch"], readable, job["course_directory"], library_folders, job["blocked_modules"])
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    failures = _run_cells(job["cells"], namespace, channel_out)
    _send(channel_out, ("ready", failures))
    while True:
        request = _receive(channel_in)
        if request is None:
            return
        reply = _call(namespace, *request)
        try:
            _send(channel_out, reply)
        except Exception as error:  # an answer that cannot be sent back (an open file, a lambda ...)
            _send(channel_out, ("unpicklable", f"{type(error).__name__}: {str(error)[:200]}"))


if __name__ == "__main__":
    main()
