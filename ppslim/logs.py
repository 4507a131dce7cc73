"""Readable runs: ppslim's own lines on the console, everything else in one log file per stage.

The console shows ``[ppslim LEVEL]`` lines, ppslim's tqdm bars and the final result. Everything
else (Python loggers of Paddle and PaddleSlim, ``warnings``, glog, oneDNN's C++ prints) goes to
``<output_dir>/logs/<stage>.log`` (``<stage>.rank<N>.log`` on rank N > 0), appended per run.

Python logging cannot see what C++ writes to file descriptors 1 and 2, so calls into Paddle's C++
run inside :func:`capture_native`, which points fds 1/2 at the log file and restores them. The
console keeps working inside a capture: ppslim's handler and :func:`console` write to a duplicate
of the original stderr taken at :func:`setup`.

Only ``cli.py`` calls :func:`setup`; without it (library use, unit tests) nothing is captured
and :func:`console` is ``sys.stderr``. Logging is process-wide by nature, so is this module's state.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, Iterator, Optional

LOGS_DIRNAME = "logs"
CONSOLE_FORMAT = "[%(short_name)s %(levelname)s] %(message)s"
FILE_FORMAT = "%(asctime)s [%(name)s %(levelname)s] %(message)s"


def rank() -> int:
    """This process's rank: ``PADDLE_TRAINER_ID`` as ``paddle.distributed.launch`` sets it, else 0."""
    try:
        return int(os.environ.get("PADDLE_TRAINER_ID", "0"))
    except ValueError:
        return 0


def log_file(output_dir: str, stage: str, rank_id: int = 0) -> str:
    """``<output_dir>/logs/<stage>.log``; rank N > 0 writes ``<stage>.rank<N>.log`` beside it."""
    name = f"{stage}.log" if rank_id == 0 else f"{stage}.rank{rank_id}.log"
    return os.path.join(output_dir, LOGS_DIRNAME, name)


class _Formatter(logging.Formatter):
    """``[ppslim INFO]`` for ppslim's records, ``[paddleslim.prune.pruner INFO]`` for the rest."""

    def format(self, record: logging.LogRecord) -> str:
        record.short_name = "ppslim" if record.name.split(".")[0] == "ppslim" else record.name
        return super().format(record)


@dataclass
class _State:
    console: IO[str]
    console_handler: logging.Handler
    file_handler: Optional[logging.Handler]
    path: Optional[str]
    header: str
    verbose: bool
    log_fd: Optional[int] = None
    capturing: bool = False

    def fd(self) -> int:
        """The log file, opened (and its run header written) on first use: a run that fails its
        input checks before anything is logged leaves no folder behind."""
        if self.log_fd is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self.log_fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            os.write(self.log_fd, f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {self.header} =====\n".encode())
        return self.log_fd


class _FileHandler(logging.Handler):
    """Writes each record straight to the log file's descriptor, in order with captured native output."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
            os.write(_state.fd(), text.encode("utf-8", errors="backslashreplace"))
        except Exception:
            self.handleError(record)


_state: Optional[_State] = None
_OURS = "_ppslim_handler"


def console() -> IO[str]:
    """The terminal stream: stays on the console while fds 1/2 are captured (for tqdm bars)."""
    return _state.console if _state is not None else sys.stderr


def progress(iterable, desc: str, total: Optional[int] = None):
    """A tqdm bar on the console, when it is a terminal and this is rank 0; it stays on the
    console while native output is captured."""
    from tqdm import tqdm

    out = console()
    return tqdm(iterable, desc=desc, total=total, leave=False, file=out, disable=rank() != 0 or not out.isatty())


def current_log(written: bool = False) -> Optional[str]:
    """The log file of this run (None without one); ``written``: only if something was written to it."""
    if _state is None or (written and _state.log_fd is None):
        return None
    return _state.path


def write(text: str) -> None:
    """Append ``text`` to the log file (a traceback, say); nothing without one."""
    if _state is not None and _state.path is not None:
        os.write(_state.fd(), (text if text.endswith("\n") else text + "\n").encode("utf-8", "backslashreplace"))


def _mark(handler: logging.Handler) -> logging.Handler:
    setattr(handler, _OURS, True)
    return handler


def setup(verbose: bool = False, path: Optional[str] = None, rank_id: int = 0, header: str = "") -> None:
    """Console handler for ``ppslim`` (rank 0 only) and, with ``path``, a file handler for everything.

    ``verbose`` shows every logger and the captured native output on the console as well.
    """
    global _state
    if _state is not None:
        close()
    try:
        stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8",
                           errors="backslashreplace")
    except (AttributeError, OSError, ValueError):  # sys.stderr without a descriptor (pytest's capsys)
        stream = sys.stderr
    to_console = logging.StreamHandler(stream)
    to_console.setFormatter(_Formatter(CONSOLE_FORMAT))
    to_console.setLevel(logging.DEBUG if verbose else logging.INFO)
    to_console.addFilter(lambda record: not (_state is not None and _state.capturing and _state.verbose))
    if rank_id != 0:
        to_console.setLevel(logging.CRITICAL + 1)  # rank 0 alone talks to the console
    _mark(to_console)
    to_file = None
    if path:
        to_file = _mark(_FileHandler(logging.DEBUG))
        to_file.setFormatter(_Formatter(FILE_FORMAT))
    _state = _State(stream, to_console, to_file, path, f"rank {rank_id} pid {os.getpid()}: {header}", verbose)

    own = logging.getLogger("ppslim")
    own.handlers[:] = [h for h in (to_console, to_file) if h is not None]
    own.setLevel(logging.DEBUG)
    own.propagate = False
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, _OURS, False)]
    root.handlers += [h for h in (to_file, to_console if verbose else None) if h is not None]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # warnings.warn -> "py.warnings" -> root's handlers
    adopt_loggers()


def close() -> None:
    """Detach the handlers and close the log file (tests and repeated ``cli.main`` calls)."""
    global _state
    if _state is None:
        return
    for logger in [logging.getLogger(), *_loggers()]:
        logger.handlers[:] = [h for h in logger.handlers if not getattr(h, _OURS, False)]
    for handler in (_state.console_handler, _state.file_handler):
        if handler is not None:
            handler.close()
    if _state.log_fd is not None:
        os.close(_state.log_fd)
    if _state.console is not sys.stderr:
        _state.console.close()
    logging.captureWarnings(False)
    _state = None


def _loggers() -> list[logging.Logger]:
    return [lg for lg in list(logging.root.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]


def _writes_to_terminal(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return (type(handler) is logging.StreamHandler and not getattr(handler, _OURS, False)
            and stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__))


def adopt_loggers() -> int:
    """Third-party loggers with their own stderr handler (PaddleSlim's ``get_logger``, Paddle's
    ``log_helper``) write to the log file instead (and to the console with ``-v``). Loggers are
    created when their modules are imported, so this runs again around every native call."""
    if _state is None or _state.file_handler is None:
        return 0
    adopted = 0
    root = logging.getLogger()  # a library's logging.basicConfig (paddleclas's) adds a stderr handler here
    foreign = [h for h in root.handlers if _writes_to_terminal(h)]
    if foreign:
        root.handlers[:] = [h for h in root.handlers if h not in foreign]
        adopted += 1
    for logger in _loggers():
        if logger.name.split(".")[0] == "ppslim" or not any(_writes_to_terminal(h) for h in logger.handlers):
            continue
        logger.handlers[:] = [h for h in logger.handlers if not _writes_to_terminal(h)]
        logger.addHandler(_state.file_handler)
        if _state.verbose:
            logger.addHandler(_state.console_handler)
        adopted += 1
    return adopted


def _flush_native() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)  # C stdio buffers (std::cout is synced with stdout)


@contextlib.contextmanager
def capture_native() -> Iterator[None]:
    """Send whatever native code writes to fds 1/2 (glog, oneDNN pass prints, Python libraries
    writing to ``sys.stderr``) to the log file for the duration of the block; with ``-v`` it is
    echoed to the console afterwards. A no-op without a log file, and when already capturing."""
    st = _state
    if st is None or st.path is None or st.capturing:
        yield
        return
    adopt_loggers()
    _flush_native()
    start = os.lseek(st.fd(), 0, os.SEEK_END)
    saved = [os.dup(1), os.dup(2)]
    os.dup2(st.fd(), 1)
    os.dup2(st.fd(), 2)
    st.capturing = True
    try:
        yield
    finally:
        _flush_native()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        st.capturing = False
        adopt_loggers()
        if st.verbose:
            _echo(st, start)


def _echo(st: _State, start: int) -> None:
    with open(st.path, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", errors="backslashreplace")
    if text:
        st.console.write(text if text.endswith("\n") else text + "\n")
        st.console.flush()


def record_native(what: str, text: str) -> None:
    """Output of a native subprocess (``paddle_lite_opt``, the Lite worker): into the log file,
    and on the console with ``-v``."""
    st = _state
    if st is None or not text.strip():
        return
    block = f"----- {what}\n{text if text.endswith(chr(10)) else text + chr(10)}"
    if st.path is not None:
        os.write(st.fd(), block.encode("utf-8", errors="backslashreplace"))
    if st.verbose:
        st.console.write(block)
        st.console.flush()
