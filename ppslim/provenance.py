"""What made an artifact, so a stage never silently replaces one made from other settings.

Every artifact folder's ``result.json`` carries a ``provenance`` record: the stage, the settings that
shape the artifact (the config minus output paths, logging and verification knobs, and minus the
other stages' ``Slim`` sections), the identity of its input (the input's own recipe when ppslim made
it, else the sha256 of its files) and the sha256 of the artifact's own files.

Before a stage writes into a folder that already holds an artifact, :func:`guard` compares recipes:
the same settings and input may replace it (re-running ``make demo`` works), different ones are
refused in one line naming the keys that differ and ``-o Global.overwrite=true``. Refusing, rather
than keeping both under new names, keeps the fixed PaddleClas paths (``best_model``,
``inference.pdmodel``, ``quant_post_static_model/``) that the next stage's config points at.
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from typing import Any, Iterable, Optional

from . import artifacts, config
from .config import Config
from .errors import ArtifactError, ConfigError

log = logging.getLogger(__name__)

# Global keys that do not change what a stage writes (where it goes, how it is logged or checked).
_IGNORED_GLOBAL = {"output_dir", "save_inference_dir", "inference_model_dir", "pretrained_model", "checkpoints",
                   "print_batch_step", "cpu_threads", "inference_backend", "overwrite", "verify_images",
                   "verify_min_cosine", "verify_min_top1_agreement", "verify_int8_min_cosine",
                   "verify_int8_min_top1_agreement"}
# Slim keys that name inputs and outputs rather than settings (the input is identified by its digest).
_IGNORED_SLIM = {"model_dir", "output_dir", "optimize_out", "model_filename", "params_filename",
                 "sensitivity_cache_dir"}
# The Slim section each stage reads; all other Slim sections are irrelevant to its artifact.
STAGE_SLIM = {"qat": "quant", "prune": "prune", "ptq": "ptq", "lite": "lite"}


def file_digest(paths: Iterable[str]) -> str:
    """sha256 over the bytes of ``paths`` in order (the identity of an artifact's content)."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def artifact_files(path: str) -> list[str]:
    """The files that make an artifact: a ``.nb``, a checkpoint's ``.pdparams``, an inference pair or an OpenVINO IR."""
    if path.endswith(".nb") or path.endswith(".pdparams"):
        return [path]
    if os.path.isfile(artifacts.strip_suffix(path) + ".pdparams"):
        return [artifacts.strip_suffix(path) + ".pdparams"]
    return list(artifacts.served_files(path))  # a Paddle inference model or an OpenVINO IR (NNCF INT8)


def artifact_digest(path: str) -> str:
    return file_digest(artifact_files(path))


def _flatten(data: Any, prefix: str = "") -> dict:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def settings(cfg: Config, stage: str) -> dict:
    """The flattened config keys (with their values) that shape ``stage``'s artifact."""
    data = config.to_dict(cfg)
    infer_transforms = data.get("Infer", {}).get("transforms")
    for key in ("Infer", "Bench", "Metric"):
        data.pop(key, None)
    data["Global"] = {k: v for k, v in data.get("Global", {}).items() if k not in _IGNORED_GLOBAL}
    own = STAGE_SLIM.get(stage)
    data["Slim"] = {own: {k: v for k, v in data.get("Slim", {}).get(own, {}).items() if k not in _IGNORED_SLIM}} \
        if own and own in data.get("Slim", {}) else {}
    if stage in ("ptq", "lite", "export"):  # no training: optimizer, loss and epochs do not matter
        for key in ("Optimizer", "Loss"):
            data.pop(key, None)
        kept = ("device", "image_shape", "seed") if stage == "export" else ("device", "seed")
        data["Global"] = {k: v for k, v in data["Global"].items() if k in kept}
    if stage in ("lite", "export"):
        data.pop("DataLoader", None)  # only verification images come from it
    if stage == "ptq" and cfg.Slim.ptq is not None and cfg.Slim.ptq.calib_dir and infer_transforms:
        data["Infer"] = {"transforms": infer_transforms}  # how the calibration images are preprocessed
    return _flatten(data)


def input_identity(path: Optional[str]) -> str:
    """The recipe of a ppslim-made input (so a re-trained, identical recipe counts as the same input),
    else the sha256 of its files; ``""`` for no input (training from scratch)."""
    if not path:
        return ""
    folder = os.path.dirname(artifacts.strip_suffix(path)) if not os.path.isdir(path) else path
    record = read(folder)
    if record and record.get("recipe"):
        return "recipe:" + record["recipe"]
    try:
        return "sha256:" + artifact_digest(path)
    except (OSError, ArtifactError, ConfigError):
        return "missing:" + os.path.abspath(path)


def recipe(stage: str, values: dict, source: str) -> str:
    return hashlib.sha256(json.dumps({"stage": stage, "settings": values, "input": source},
                                     sort_keys=True).encode()).hexdigest()


def read(folder: str) -> Optional[dict]:
    """The provenance record of the artifact in ``folder`` (``None`` when it has none)."""
    path = os.path.join(folder, artifacts.RESULT_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("provenance")
    except (OSError, ValueError, AttributeError):
        return None


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Record:
    """The provenance of one stage run: built before the work, checked against every target folder,
    then written into each ``result.json`` with the digest of what was made."""

    def __init__(self, cfg: Config, stage: str, source: Optional[str]):
        self.cfg, self.stage = cfg, stage
        self.settings = settings(cfg, stage)
        self.input = input_identity(source)
        self.recipe = recipe(stage, self.settings, self.input)

    def guard(self, folder: str, out_key: str, whole_folder: bool = True) -> None:
        """Refuse to replace an artifact in ``folder`` made from other settings or another input.

        :param whole_folder: the stage replaces ``folder`` as a whole, so a non-empty folder that no
            ppslim stage wrote (no ``result.json``) is refused too.
        :raises ArtifactError: one line naming what differs and ``-o Global.overwrite=true``.
        """
        force = "add -o Global.overwrite=true, or set {} to another folder".format(out_key)
        old = read(folder)
        if old is None:
            if (whole_folder and not self.cfg.Global.overwrite and os.path.isdir(folder) and os.listdir(folder)
                    and not os.path.isfile(os.path.join(folder, artifacts.RESULT_FILE))):
                raise ArtifactError(f"{folder} exists and was not written by ppslim (no result.json); refusing "
                                    f"to replace it: {force}")
            return
        if old.get("recipe") == self.recipe:
            return
        if self.cfg.Global.overwrite:
            log.warning("replacing %s (made from other settings): Global.overwrite is true", folder)
            return
        before, now = old.get("settings", {}), self.settings
        changed = [k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
        what = ", ".join(f"{k} {_show(before.get(k, '(unset)'))} -> {_show(now.get(k, '(unset)'))}"
                         for k in changed[:3])
        if len(changed) > 3:
            what += f" and {len(changed) - 3} more"
        if old.get("stage") != self.stage:
            what = f"made by {old.get('stage')}, not {self.stage}"
        elif old.get("input") != self.input:
            what = (what + "; " if what else "") + "another input model/weights"
        raise ArtifactError(f"{folder} holds a {old.get('stage')} artifact made from other settings ({what}); "
                            f"refusing to replace it: {force}")

    def as_dict(self, artifact: Optional[str]) -> dict:
        return {"stage": self.stage, "recipe": self.recipe, "input": self.input, "settings": self.settings,
                "artifact_sha256": artifact_digest(artifact) if artifact else None}

    def write_result(self, folder: str, result: Any, artifact: Optional[str]) -> str:
        """``folder/result.json``: the stage's result plus this record (written last: marks the folder done)."""
        payload = {**artifacts.to_jsonable(result), "provenance": self.as_dict(artifact)}
        return artifacts.write_json(os.path.join(folder, artifacts.RESULT_FILE), payload)


def clear_run(run_dir: str) -> list[str]:
    """Remove an earlier run's checkpoints and metrics from ``run_dir`` before a fresh (not resumed)
    run, so no ``epoch_N`` of another run sits beside the new one's."""
    stale = [p for tag in ("epoch_*", "latest", "best_model")
             for p in glob.glob(os.path.join(run_dir, tag + ".pd*"))]
    stale += [os.path.join(run_dir, n) for n in (artifacts.METRICS_FILE, artifacts.RESULT_FILE)
              if os.path.isfile(os.path.join(run_dir, n))]
    for path in stale:
        os.remove(path)
    if stale:
        log.info("removed %d file(s) of an earlier run from %s", len(stale), run_dir)
    return stale


def check_recorded(path: str, output_dir: Optional[str] = None) -> Optional[str]:
    """The artifact's sha256, compared with the one its folder's ``result.json`` recorded and with the
    row of the pipeline summary under ``output_dir`` that points at it: a replaced or edited artifact
    is reported (the summary describes another model)."""
    files = artifact_files(path)
    digest = file_digest(files)
    folder = os.path.dirname(files[0])
    old = read(folder)
    if old and old.get("artifact_sha256") and old["artifact_sha256"] != digest:
        log.warning("%s changed after its result.json was written (sha256 %s, recorded %s): summaries that "
                    "point here describe another model", path, digest[:12], old["artifact_sha256"][:12])
    summary = os.path.join(artifacts.pipeline_dir(output_dir), "summary.json") if output_dir else ""
    if summary and os.path.isfile(summary):
        try:
            with open(summary, encoding="utf-8") as f:
                rows = json.load(f).get("rows", [])
        except (OSError, ValueError, AttributeError):
            rows = []
        for row in rows:
            if (row.get("path") and row.get("sha256") and os.path.abspath(row["path"]) == os.path.abspath(path)
                    and row["sha256"] != digest):
                log.warning("%s is not the model %s describes as %r (sha256 %s, recorded %s)", path, summary,
                            row.get("artifact"), digest[:12], row["sha256"][:12])
    return digest
