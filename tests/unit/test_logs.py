"""ppslim.logs without Paddle: fd capture of C-level writes, third-party loggers, rank-aware paths."""
from __future__ import annotations

import ctypes
import logging
import os

from ppslim import logs


def test_log_file_is_per_stage_and_rank(tmp_path):
    assert logs.log_file("out", "ptq") == os.path.join("out", "logs", "ptq.log")
    assert logs.log_file("out", "qat", 1) == os.path.join("out", "logs", "qat.rank1.log")


def test_capture_native_sends_fds_1_and_2_to_the_log_and_restores_them(tmp_path, capfd):
    path = logs.log_file(str(tmp_path), "unit")
    logs.setup(False, path, 0, header="unit test")
    try:
        assert not os.path.exists(path), "the log is created on first write, not before"
        # A library that sets up its own stderr handler, as PaddleSlim's get_logger does.
        lib = logging.getLogger("thirdparty.lib")
        lib.addHandler(logging.StreamHandler())
        lib.propagate = False
        with logs.capture_native():
            ctypes.CDLL(None).printf(b"printf from C, still buffered\n")
            os.write(2, b"raw write to fd 2\n")
            lib.warning("third-party record")
            logging.getLogger("ppslim.unit").info("own line while capturing")
        logging.getLogger("ppslim.unit").info("own line")
        logging.getLogger("plain.thirdparty").warning("propagating third-party record")
        os.write(2, b"after the capture\n")
    finally:
        logs.close()
    out, err = capfd.readouterr()
    text = open(path).read()
    for line in ("printf from C, still buffered", "raw write to fd 2", "third-party record",
                 "[ppslim.unit INFO] own line", "[plain.thirdparty WARNING] propagating"):
        assert line in text, line
    assert "printf" not in out + err and "raw write" not in err and "third-party" not in err
    assert "[ppslim INFO] own line while capturing" in err and "[ppslim INFO] own line\n" in err
    assert "after the capture" in err


def test_verbose_echoes_the_captured_output(tmp_path, capfd):
    path = logs.log_file(str(tmp_path), "unit")
    logs.setup(True, path, 0)
    try:
        with logs.capture_native():
            os.write(1, b"native line\n")
        logs.record_native("paddle_lite_opt", "opt says hello")
    finally:
        logs.close()
    err = capfd.readouterr().err
    assert "native line" in err and "opt says hello" in err
    assert "native line" in open(path).read()


def test_without_setup_nothing_is_captured(capfd):
    with logs.capture_native():
        os.write(2, b"stays on stderr\n")
    assert "stays on stderr" in capfd.readouterr().err


def test_a_root_handler_from_a_librarys_basicconfig_is_moved_to_the_log(tmp_path, capfd):
    """paddleclas's import calls ``logging.basicConfig``: a stderr handler on the root logger that would
    print PaddleSlim's import-time warnings on the console (seen after ``ppslim train`` of a zoo network)."""
    import sys
    import warnings

    root = logging.getLogger()
    saved = list(root.handlers)
    root.handlers[:] = [logging.StreamHandler(sys.stderr)]  # what basicConfig leaves when it runs first
    path = logs.log_file(str(tmp_path), "unit")
    logs.setup(False, path, 0)
    try:
        warnings.warn("pkg_resources is deprecated as an API", UserWarning)
        logging.getLogger("py.warnings").warning("direct record")
    finally:
        logs.close()
        root.handlers[:] = saved
    err = capfd.readouterr().err
    assert "pkg_resources" not in err and "direct record" not in err
    text = open(path).read()
    assert "pkg_resources is deprecated" in text and "direct record" in text
