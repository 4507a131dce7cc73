"""Where artifacts live and how they are written: fixed PaddleClas names, atomic writes only.

Every path a stage produces is resolved here, so ``best_model.pdparams`` or
``quant_post_static_model/`` is spelled once. Writers go through a temp file or directory in the same
folder and ``os.replace``, so a killed run never leaves a half-written artifact behind.
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import glob
import json
import os
import shutil
import tempfile
from typing import Any, Iterator

from .errors import ArtifactError

MODEL_FILE = "inference.pdmodel"
PARAMS_FILE = "inference.pdiparams"
PTQ_DIRNAME = "quant_post_static_model"
# Slim.ptq.engine=nncf: an OpenVINO INT8 IR (the openvino backend serves it).
NNCF_DIRNAME = "nncf_int8_model"
OV_MODEL_FILE = "inference.xml"
OV_WEIGHTS_FILE = "inference.bin"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.jsonl"
OUTPUTS_FILE = "verification_outputs.npz"  # a verified model's logits on the verification images


# ------------------------------------------------------------------------------- paths
def model_dir(output_dir: str, arch_name: str) -> str:
    """``Global.output_dir/<Arch.name>``: checkpoints, metrics and result of a training stage."""
    return os.path.join(output_dir, arch_name)


def checkpoint_prefix(output_dir: str, arch_name: str, tag: str) -> str:
    """Prefix of a checkpoint triple (``.pdparams``/``.pdopt``/``.pdstates``): tag is epoch_N/best_model/latest."""
    return os.path.join(model_dir(output_dir, arch_name), tag)


def ptq_dir(inference_dir: str) -> str:
    """PaddleClas's default PTQ output: ``<inference model folder>/quant_post_static_model``."""
    if inference_dir.endswith(".pdmodel") and os.path.isfile(inference_dir):
        inference_dir = os.path.dirname(inference_dir)
    return os.path.join(inference_dir, PTQ_DIRNAME)


def pipeline_dir(output_dir: str) -> str:
    """Where ``ppslim pipeline`` writes ``summary.md`` / ``summary.json``."""
    return os.path.join(output_dir, "pipeline")


def nncf_dir(inference_dir: str) -> str:
    return os.path.join(inference_dir, NNCF_DIRNAME)


def served_files(directory: str, key: str = "Global.inference_model_dir") -> tuple[str, str]:
    """The model and weights files of a folder a predictor serves: a Paddle inference model, or else an
    OpenVINO IR (``inference.xml``/``.bin``)."""
    if os.path.isfile(os.path.join(directory, OV_MODEL_FILE)) and \
            not os.path.isfile(os.path.join(directory, MODEL_FILE)):
        return inference_files(directory, OV_MODEL_FILE, OV_WEIGHTS_FILE, key)
    return inference_files(directory, key=key)


def strip_suffix(path: str) -> str:
    """Users pass ``best_model`` or ``best_model.pdparams``; both name the same checkpoint."""
    for suffix in (".pdparams", ".pdopt", ".pdstates"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def find_model_pair(directory: str, key: str = "Global.inference_model_dir", hint: str | None = None) -> tuple[str, str]:
    """The single ``*.pdmodel`` + ``*.pdiparams`` pair of a folder (PaddleClas's ``inference.*``,
    ``paddle.jit.save``'s ``<prefix>.*``, an unpacked zoo tarball), or one line saying what is there.

    :param hint: the keys that pick a pair when the folder is ambiguous, named in the error
        (default: ``<key>=<folder>/<name>.pdmodel``).
    """
    from .errors import ConfigError

    hint = hint or f"{key}=<folder>/<name>.pdmodel"
    if not os.path.isdir(directory):
        raise ConfigError(key, f"inference model folder not found: {directory!r}")
    names = sorted(os.listdir(directory))
    models = [n for n in names if n.endswith(".pdmodel") and os.path.isfile(os.path.join(directory, n))]
    params = [n for n in names if n.endswith(".pdiparams") and os.path.isfile(os.path.join(directory, n))]
    if len(models) == 1 and len(params) == 1:
        return os.path.join(directory, models[0]), os.path.join(directory, params[0])
    if not models or not params:
        missing = " / ".join(w for w, found in (("*.pdmodel", models), ("*.pdiparams", params)) if not found)
        raise ConfigError(key, f"{directory!r} has no {missing} (found: {names or 'nothing'})")
    pairs = [m for m in models if m[: -len(".pdmodel")] + ".pdiparams" in params]
    raise ConfigError(key, f"{directory!r} holds {len(models)} models ({', '.join(models)}) and "
                      f"{len(params)} params files ({', '.join(params)})"
                      + (f", pairs: {', '.join(p[: -len('.pdmodel')] for p in pairs)}" if pairs else "")
                      + f"; pick one with {hint}")


def inference_files(path: str, model_filename: str | None = None, params_filename: str | None = None,
                    key: str = "Global.inference_model_dir", hint: str | None = None) -> tuple[str, str]:
    """The model and params files of an inference model, or one line saying what is missing.

    ``path`` is a folder (its single ``*.pdmodel`` + ``*.pdiparams`` pair is found, unless the file
    names are given) or a ``.pdmodel`` file whose params sit beside it with the same stem.
    """
    from .errors import ConfigError

    if path.endswith(".pdmodel") and os.path.isfile(path) and not model_filename:
        params = path[: -len(".pdmodel")] + ".pdiparams"
        if not os.path.isfile(params):
            raise ConfigError(key, f"{path!r} has no {os.path.basename(params)} beside it")
        return path, params
    if not (model_filename or params_filename):
        return find_model_pair(path, key, hint)
    if not os.path.isdir(path):
        raise ConfigError(key, f"inference model folder not found: {path!r}")
    # one name given: the other has the same stem, as paddle.jit.save writes them
    model_filename = model_filename or os.path.splitext(params_filename)[0] + ".pdmodel"
    params_filename = params_filename or os.path.splitext(model_filename)[0] + ".pdiparams"
    model, params = os.path.join(path, model_filename), os.path.join(path, params_filename)
    missing = [os.path.basename(p) for p in (model, params) if not os.path.isfile(p)]
    if missing:
        present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(path, "*")))
        raise ConfigError(key, f"{path!r} has no {' / '.join(missing)} (found: {present or 'nothing'})")
    return model, params


# ------------------------------------------------------------------------------- atomic writers
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(final_dir: str) -> Iterator[str]:
    """Yield a temp dir beside ``final_dir``; on success it replaces ``final_dir`` whole.

    On any exception the temp dir is removed and ``final_dir`` is left as it was.
    """
    final_dir = os.path.abspath(final_dir)
    parent = os.path.dirname(final_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.tmp-", dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the artifact gets normal permissions
    try:
        yield tmp
        if os.path.isdir(final_dir):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.old-", dir=parent)
            os.replace(final_dir, os.path.join(old, "x"))
            os.replace(tmp, final_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def _temp_beside(path: str) -> Iterator[str]:
    """Yield a temp path in ``path``'s folder; rename it onto ``path`` if the block succeeds."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", dir=os.path.dirname(path))
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "w") -> Iterator[Any]:
    """Open a temp file beside ``path``; fsync and rename it into place when the block succeeds."""
    with _temp_beside(path) as tmp, open(tmp, mode) as f:
        yield f


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


def write_json(path: str, obj: Any) -> str:
    with atomic_file(path) as f:
        json.dump(to_jsonable(obj), f, indent=2, sort_keys=True)
        f.write("\n")
    return path


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: not found") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}: not valid JSON ({e})") from None


def append_jsonl(path: str, obj: Any) -> None:
    """Metrics log: one JSON object per line; appends are small enough to be atomic in practice."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(to_jsonable(obj), sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def paddle_save(obj: Any, path: str) -> None:
    """``paddle.save`` through a temp file, so a checkpoint is either whole or absent."""
    import paddle

    with _temp_beside(path) as tmp:
        paddle.save(obj, tmp)
