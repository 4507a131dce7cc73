"""``Arch.pretrained``: PaddleClas's published weights (``True``) or a local file (a path), loaded strictly.

Downloads go where PaddleClas puts them (``~/.paddleclas/weights``, or ``$PPSLIM_WEIGHTS_HOME``), so
files PaddleClas already fetched are reused; a download is written to a temp file and renamed, so a
killed run leaves no half file. Without network the stage stops in one line naming the URL and the
way out (``Global.pretrained_model``), after at most ``$PPSLIM_DOWNLOAD_TIMEOUT`` seconds (30).
"""
from __future__ import annotations

import logging
import os
import tempfile

from .errors import ConfigError

log = logging.getLogger(__name__)


def weights_home() -> str:
    return os.environ.get("PPSLIM_WEIGHTS_HOME") or os.path.expanduser("~/.paddleclas/weights")


def download(url: str, key: str) -> str:
    """The cached file for ``url``, downloading it first when absent.

    :raises ConfigError: at ``key`` when the file cannot be fetched (one line: URL, reason, way out).
    """
    import urllib.error
    import urllib.request

    home = weights_home()
    path = os.path.join(home, url.rsplit("/", 1)[-1])
    if os.path.isfile(path):
        return path
    timeout = float(os.environ.get("PPSLIM_DOWNLOAD_TIMEOUT", "30"))
    log.info("downloading %s to %s", url, path)
    tmp = None
    try:
        os.makedirs(home, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - URL from PaddleClas's table
            fd, tmp = tempfile.mkstemp(dir=home, prefix=".download-")
            with os.fdopen(fd, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
        tmp = None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise ConfigError(key, f"cannot download {url} ({reason}); download it elsewhere and set "
                          f"Global.pretrained_model to the file, or set {key} to its path") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return path


def pretrained_file(name: str, pretrained, kwargs: dict, key: str) -> str:
    """The local file ``Arch.pretrained`` names: the path itself, or PaddleClas's published weights (downloaded)."""
    from . import zoo

    if isinstance(pretrained, str):
        return pretrained
    url = zoo.pretrained_url(name, kwargs) if name in zoo.names() else None
    if url is None:
        raise ConfigError(key, f"PaddleClas publishes no weights for {name!r}; set Global.pretrained_model "
                          "or Arch.pretrained to a .pdparams file")
    return download(url, key)


def load_pretrained(model, name: str, pretrained, kwargs: dict, key: str) -> None:
    """Apply ``Arch.pretrained`` to a freshly built ``model``: ``False`` does nothing, ``True`` loads
    PaddleClas's published weights for ``name`` (``use_ssld`` and friends in ``kwargs`` pick which),
    a string loads that file. Always strictly (:func:`ppslim.models.load_weights`)."""
    from . import models

    if pretrained is False or pretrained is None:
        return
    models.load_weights(model, pretrained_file(name, pretrained, kwargs, key), key)
