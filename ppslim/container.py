"""Build the ppslim image and run stages in it (docker SDK) or in the local venv: ``ppslim container``.

``ppslim container run ptq -c CONFIG -o K=V --gpus 0,1 --runtime auto`` is what ``make ptq`` calls.
Paths from the config are mounted at the same absolute path they have on the host, and the container
starts in the host's working directory, so relative config paths resolve exactly as they do locally:
datasets, config files and read-only inputs are mounted read-only, ``Global.output_dir`` /
``Global.save_inference_dir`` / ``Slim.lite.optimize_out`` read-write. The stage runs as the host
uid:gid (outputs are not root-owned) with ``HOME=/tmp`` (Paddle writes ``~/.cache``).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Optional

import yaml

from .config import StrEnum
from .errors import PpslimError

log = logging.getLogger(__name__)

IMAGE_VENV = "/opt/venv"  # where the Dockerfile puts the venv; the launcher script lives in its bin/
TARGETS = ("cpu", "gpu")
LOCKS = {"cpu": "requirements/cpu.lock.txt", "gpu": "requirements/gpu.lock.txt"}
# Paddle's CUDA 12.0 wheel needs a CUDA 12 runtime; the CUDA 11.8 default is pinned in the Dockerfile.
CUDA12_BASE_IMAGE = "nvidia/cuda:12.0.1-cudnn8-runtime-ubuntu22.04"
# Host pip settings that name files or local indexes; the build gets copies or nothing (see pip_settings).
PIP_FILE_KEYS = ("cert", "client-cert")
PIP_LOCAL_KEYS = ("find-links", "extra-index-url", "index-url")
PIP_DROP_KEYS = ("constraint", "requirement")  # the lock is the only source of versions


class Runtime(StrEnum):
    AUTO = "auto"
    DOCKER = "docker"
    LOCAL = "local"


class BuildPolicy(StrEnum):
    """When ``run`` builds the image: never (error if missing), if missing, or always (cached layers)."""
    NEVER = "never"
    MISSING = "missing"
    ALWAYS = "always"


@dataclass(frozen=True)
class Mount:
    path: str  # absolute, the same on the host and in the container
    read_only: bool


@dataclass(frozen=True)
class BuildResult:
    image: str
    target: str
    seconds: float
    size_mb: float
    revision: str
    lock_sha256: str


@dataclass(frozen=True)
class RunResult:
    runtime: str
    stage: str
    image: str
    exit_code: int
    seconds: float


# ------------------------------------------------------------------------------- engine
def connect(timeout: int = 10):
    """A docker client whose engine answered a ping, or one line saying none did and what to do."""
    import docker

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:  # DockerException, requests' ConnectionError, PermissionError: all mean "no engine"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PpslimError(f"no Docker engine answered at {where} ({reason[:160]}); start dockerd, set "
                          f"DOCKER_HOST, or use RUNTIME=local") from None
    return client


def pick_runtime(requested: Runtime) -> tuple[Runtime, object]:
    """Resolve ``auto``: docker when an engine answers, else local. Logs which one and why."""
    if requested == Runtime.LOCAL:
        log.info("runtime: local (requested)")
        return Runtime.LOCAL, None
    if requested == Runtime.DOCKER:
        client = connect()
        log.info("runtime: docker (requested; engine %s)", client.version().get("Version", "?"))
        return Runtime.DOCKER, client
    try:
        client = connect(timeout=5)
    except PpslimError as e:
        log.info("runtime: local (%s)", str(e).split(";")[0])
        return Runtime.LOCAL, None
    log.info("runtime: docker (engine %s answered; RUNTIME=local to run in the venv)",
             client.version().get("Version", "?"))
    return Runtime.DOCKER, client


# ------------------------------------------------------------------------------- what to run
def parse_gpus(text: Optional[str]) -> tuple[str, ...]:
    """``"0,1"`` -> ``("0", "1")``; empty means CPU. Device ids must be integers."""
    ids = tuple(part.strip() for part in (text or "").split(",") if part.strip())
    bad = [i for i in ids if not i.isdigit()]
    if bad or len(set(ids)) != len(ids):
        raise PpslimError(f"GPUS={text!r}: expected distinct device numbers like 0,1")
    return ids


def stage_argv(stage: str, config: str, overrides: Iterable[str]) -> list[str]:
    argv = [stage, "-c", config]
    for item in overrides:
        argv += ["-o", item]
    return argv


def launch_argv(python: str, script: str, gpus: Iterable[str], log_dir: str, argv: list[str]) -> list[str]:
    """Multi-GPU: one process per device under ``paddle.distributed.launch`` (it runs a script, not ``-m``)."""
    return [python, "-m", "paddle.distributed.launch", "--gpus", ",".join(gpus), "--log_dir", log_dir,
            script, *argv]


def config_files(path: str) -> list[str]:
    """The config and every ``_BASE_`` it includes, so all of them get mounted."""
    files, seen = [], set()
    while path and os.path.abspath(path) not in seen:
        seen.add(os.path.abspath(path))
        files.append(os.path.abspath(path))
        try:
            with open(path, encoding="utf-8") as f:
                base = (yaml.safe_load(f) or {}).get("_BASE_")
        except (OSError, yaml.YAMLError, AttributeError):
            break  # config.load already reported real problems
        path = os.path.join(os.path.dirname(path), base) if isinstance(base, str) else ""
    return files


def plan_mounts(config_path: str, cfg) -> list[Mount]:
    """Every path the stage reads or writes, deduplicated; an input that does not exist is an error.

    Output parents are created (as the host user) so that docker does not create them root-owned. Optional
    inputs (pretrained weights, infer images, lite model dir) are mounted only when present: the stage
    itself reports them if it needs them.
    """
    g = cfg.Global
    lite = cfg.Slim.lite
    outputs = [g.output_dir, g.save_inference_dir] + ([lite.optimize_out] if lite and lite.optimize_out else [])
    # config folders, not files: the config and its _BASE_ chain may be edited (replaced) between runs
    required = {f"-c {p}": os.path.dirname(p) for p in config_files(config_path)}
    for section in ("Train", "Eval"):
        data = getattr(cfg.DataLoader, section)
        if data is not None:
            for key in ("image_root", "cls_label_path"):
                if getattr(data.dataset, key):
                    required[f"DataLoader.{section}.dataset.{key}"] = getattr(data.dataset, key)
    optional = [g.pretrained_model, g.checkpoints, g.inference_model_dir, lite.model_dir if lite else None]
    if cfg.Infer is not None:
        optional += [cfg.Infer.infer_imgs, cfg.Infer.PostProcess.class_id_map_file]
    # the parent, not the folder: stages replace output folders atomically (rename), and a mount point
    # cannot be renamed
    mounts = [Mount(os.path.dirname(os.path.abspath(p)), False) for p in outputs]
    for key, path in required.items():
        if not os.path.exists(path):
            raise PpslimError(f"{key}: {path!r} does not exist on the host, so it cannot be mounted")
        mounts.append(Mount(os.path.abspath(path), True))
    for path in filter(None, optional):
        # checkpoint prefixes (`.../best_model`) name files that exist only with a suffix
        hit = next((p for p in (path, path + ".pdparams") if os.path.exists(p)), None)
        if hit:
            mounts.append(Mount(os.path.abspath(path if hit == path else os.path.dirname(path)), True))
    return dedupe(mounts)


def dedupe(mounts: list[Mount]) -> list[Mount]:
    """Drop mounts already covered by a parent mount that is at least as permissive."""
    keep: list[Mount] = []
    for m in sorted(set(mounts), key=lambda m: (len(m.path), m.read_only)):
        covered = any((m.path == k.path or m.path.startswith(k.path.rstrip("/") + "/"))
                      and (m.read_only or not k.read_only) for k in keep)
        if not covered:
            keep.append(m)
    return keep


def container_spec(image: str, stage: str, config: str, overrides: list[str], gpus: tuple[str, ...],
                   mounts: list[Mount], workdir: str, uid: int, gid: int, log_dir: str,
                   shm_size: str = "2g") -> dict:
    """Keyword arguments for ``client.containers.create``: everything about the run, testable without an engine."""
    import docker

    argv = stage_argv(stage, os.path.abspath(config), overrides)
    spec = dict(image=image, command=argv, user=f"{uid}:{gid}", working_dir=workdir,
                environment={"HOME": "/tmp", "PYTHONUNBUFFERED": "1"}, network_mode="none", shm_size=shm_size,
                mounts=[docker.types.Mount(target=m.path, source=m.path, type="bind", read_only=m.read_only)
                        for m in mounts],
                labels={"io.ppslim.stage": stage}, detach=True)
    if gpus:
        spec["device_requests"] = [docker.types.DeviceRequest(device_ids=list(gpus), capabilities=[["gpu"]])]
    if len(gpus) > 1:
        # the container sees the requested devices renumbered from 0
        inside = [str(i) for i in range(len(gpus))]
        spec["entrypoint"] = ["python"]
        spec["command"] = launch_argv("python", f"{IMAGE_VENV}/bin/ppslim", inside, log_dir, argv)[1:]
    return spec


# ------------------------------------------------------------------------------- build
def pip_settings(listing: str, ctx_dir: str) -> tuple[str, dict[str, str]]:
    """Turn ``pip config list`` output into a pip.conf for the build stage, plus files to copy.

    Host-local indexes (``file://`` or absolute paths) are dropped because the build cannot see them;
    a CA bundle is copied in as ``build/pip-ca.crt``; constraints are dropped because the lock pins all.
    Environment values win over files, as in pip.
    """
    values: dict[str, str] = {}
    for line in listing.splitlines():
        scope, _, rest = line.partition(".")
        key, _, raw = rest.partition("=")
        if not raw:
            continue
        if scope == ":env:" or key not in values:
            values[key] = raw.strip().strip("'\"")
    conf, copies = {}, {}
    for key, value in values.items():
        if key in PIP_DROP_KEYS:
            continue
        if key in PIP_LOCAL_KEYS:
            remote = [v for v in value.split() if not v.startswith(("file:", "/", "."))]
            if remote:
                conf[key] = " ".join(remote)
        elif key in PIP_FILE_KEYS:
            if os.path.isfile(value):
                name = "pip-ca.crt" if key == "cert" else "pip-client.pem"
                copies[value] = os.path.join(ctx_dir, name)
                conf[key] = f"/build/{name}"
        else:
            conf[key] = value
    text = "[global]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(conf.items()))
    return text, copies


def write_pip_context(ctx_dir: str = "build") -> str:
    """Mirror the host's pip settings into ``build/pip.conf`` (+ CA) for the throw-away deps stage."""
    os.makedirs(ctx_dir, exist_ok=True)
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                             text=True).stdout
    text, copies = pip_settings(listing, ctx_dir)
    for src, dst in copies.items():
        shutil.copyfile(src, dst)
    path = os.path.join(ctx_dir, "pip.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def git_revision(root: str = ".") -> str:
    """``HEAD``'s commit, with ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev.stdout.strip() + ("-dirty" if dirty else "")


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def build_args(target: str, base_image: Optional[str], paddle_cuda: str, root: str = ".") -> dict[str, str]:
    if target not in TARGETS:
        raise PpslimError(f"--target {target!r} not in {list(TARGETS)}")
    if paddle_cuda not in ("11", "12"):
        raise PpslimError(f"PADDLE_CUDA={paddle_cuda!r}: expected 11 (PyPI wheel, sm_61..sm_86) or 12 (adds sm_90)")
    if paddle_cuda == "12" and target == "cpu":
        raise PpslimError("PADDLE_CUDA=12 selects a GPU build; drop it or use TARGET=gpu")
    args = {"GIT_REVISION": git_revision(root), "LOCK_SHA256": file_sha256(os.path.join(root, LOCKS[target])),
            "PADDLE_CUDA": paddle_cuda}
    base = base_image or (CUDA12_BASE_IMAGE if paddle_cuda == "12" else None)
    if base:
        args["BASE_IMAGE"] = base
    return args


def build(client, tag: str, target: str = "gpu", base_image: Optional[str] = None, paddle_cuda: str = "11",
          network: Optional[str] = None, no_cache: bool = False, root: str = ".") -> BuildResult:
    """Build one Dockerfile target with the classic builder, streaming its log to stderr."""
    args = build_args(target, base_image, paddle_cuda, root)
    write_pip_context(os.path.join(root, "build"))
    labels = {"org.opencontainers.image.revision": args["GIT_REVISION"], "io.ppslim.lock.sha256": args["LOCK_SHA256"]}
    log.info("building %s (target %s, base %s)", tag, target, args.get("BASE_IMAGE", "Dockerfile default"))
    start = time.time()
    for chunk in client.api.build(path=root, dockerfile="Dockerfile", tag=tag, target=target, buildargs=args,
                                  labels=labels, network_mode=network, nocache=no_cache, rm=True, forcerm=True,
                                  decode=True):
        if "stream" in chunk:
            sys.stderr.write(chunk["stream"])
        if "error" in chunk:
            raise PpslimError(f"image build failed: {chunk['error'].strip()}")
    seconds = time.time() - start
    image = client.images.get(tag)
    return BuildResult(tag, target, round(seconds, 1), round(image.attrs["Size"] / 1e6, 1),
                       args["GIT_REVISION"], args["LOCK_SHA256"])


def ensure_image(client, image: str, policy: BuildPolicy, build_kwargs: dict) -> None:
    import docker

    if policy == BuildPolicy.ALWAYS:
        build(client, image, **build_kwargs)
        return
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        if policy == BuildPolicy.NEVER:
            raise PpslimError(f"image {image!r} not found on the engine; build it with `make image` "
                              f"(or pass --build missing)") from None
        build(client, image, **build_kwargs)
        return
    built_from = found.labels.get("org.opencontainers.image.revision", "unknown")
    if built_from != git_revision():
        log.warning("image %s was built from %s, the work tree is at %s; `make image` rebuilds it",
                    image, built_from, git_revision())


# ------------------------------------------------------------------------------- run
def run_in_docker(client, spec: dict) -> int:
    """Create, stream, wait, remove. Ctrl-C removes the container (killing the stage) and exits 130.

    An engine that refuses the container (no NVIDIA runtime for a GPU request, a bad mount) is one line.
    """
    import docker

    try:
        container = client.containers.create(**spec)
    except docker.errors.APIError as e:
        raise PpslimError(f"docker refused the container: {e.explanation or e}") from None
    try:
        try:
            container.start()
        except docker.errors.APIError as e:
            raise PpslimError(f"docker could not start the container: {e.explanation or e}") from None
        for out, err in client.api.attach(container.id, stream=True, logs=True, demux=True):
            if out:
                sys.stdout.buffer.write(out)
                sys.stdout.flush()
            if err:
                sys.stderr.buffer.write(err)
                sys.stderr.flush()
        return int(container.wait()["StatusCode"])
    except KeyboardInterrupt:
        log.warning("interrupted: removing container %s", container.short_id)
        raise SystemExit(130)
    finally:
        container.remove(force=True)


def run_local(stage: str, config: str, overrides: list[str], gpus: tuple[str, ...], log_dir: str) -> int:
    argv = stage_argv(stage, config, overrides)
    if len(gpus) > 1:
        script = shutil.which("ppslim") or os.path.join(os.path.dirname(sys.executable), "ppslim")
        cmd = launch_argv(sys.executable, script, gpus, log_dir, argv)
    else:
        cmd = [sys.executable, "-m", "ppslim", *argv]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpus[0]) if len(gpus) == 1 else None
    try:
        return subprocess.run(cmd, env=env).returncode
    except KeyboardInterrupt:
        raise SystemExit(130)


def run(stage: str, config_path: str, overrides: list[str], gpus_text: str = "", runtime: Runtime = Runtime.AUTO,
        image: str = "ppslim:cpu", policy: BuildPolicy = BuildPolicy.NEVER, build_kwargs: Optional[dict] = None,
        shm_size: str = "2g") -> RunResult:
    """Run one stage where ``runtime`` says; the config is checked here first, before any container starts."""
    from . import config as config_mod

    cfg = config_mod.load(config_path, overrides)
    gpus = parse_gpus(gpus_text)
    log_dir = os.path.join(os.path.abspath(cfg.Global.output_dir), "launch_log")
    chosen, client = pick_runtime(runtime)
    start = time.time()
    if chosen == Runtime.LOCAL:
        code = run_local(stage, config_path, overrides, gpus, log_dir)
        return RunResult("local", stage, "", code, round(time.time() - start, 1))
    mounts = plan_mounts(config_path, cfg)
    for m in mounts:
        if not m.read_only:
            os.makedirs(m.path, exist_ok=True)
    ensure_image(client, image, policy, build_kwargs or {})
    spec = container_spec(image, stage, config_path, overrides, gpus, mounts, os.getcwd(), os.getuid(),
                          os.getgid(), log_dir, shm_size)
    log.info("docker run %s %s (%d mounts, gpus=%s)", image, " ".join(spec["command"]), len(mounts),
             ",".join(gpus) or "none")
    code = run_in_docker(client, spec)
    return RunResult("docker", stage, image, code, round(time.time() - start, 1))


# ------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("build", "run"):
        p = sub.add_parser(name, help={"build": "build the image", "run": "run a stage in docker or locally"}[name])
        if name == "run":
            p.add_argument("stage", help="ppslim stage: train, qat, prune, ptq, export, lite, eval ...")
            p.add_argument("-c", "--config", required=True)
            p.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE")
            p.add_argument("--gpus", default="", help="device ids, e.g. 0,1 (empty: CPU)")
            p.add_argument("--runtime", type=Runtime, choices=list(Runtime), default=Runtime.AUTO)
            p.add_argument("--build", type=BuildPolicy, choices=list(BuildPolicy), default=BuildPolicy.NEVER,
                           help="build the image never / if missing / always before running")
            p.add_argument("--shm-size", default="2g", help="/dev/shm size for DataLoader workers")
        p.add_argument("--image", default=None, help="image tag (default ppslim:<target>)")
        p.add_argument("--target", default="cpu", choices=TARGETS)
        p.add_argument("--base-image", default=None, help="overrides the Dockerfile's BASE_IMAGE")
        p.add_argument("--paddle-cuda", default="11", help="11 (PyPI wheel) or 12 (Paddle's CUDA 12 build, Hopper)")
        p.add_argument("--network", default=None, help="build network mode, e.g. host")
        p.add_argument("--no-cache", action="store_true")
        p.add_argument("--json", action="store_true")


def main(args) -> object:
    image = args.image or f"ppslim:{args.target}"
    build_kwargs = dict(target=args.target, base_image=args.base_image or None, paddle_cuda=str(args.paddle_cuda),
                        network=args.network or None, no_cache=args.no_cache)
    if args.action == "build":
        build_args(args.target, build_kwargs["base_image"], build_kwargs["paddle_cuda"])  # fail before connecting
        return build(connect(), image, **build_kwargs)
    overrides = [item for group in args.override for item in group]
    result = run(args.stage, args.config, overrides, args.gpus, args.runtime, image, args.build, build_kwargs,
                 args.shm_size)
    if result.exit_code != 0:
        log.error("stage %s exited with %d (%s)", result.stage, result.exit_code, result.runtime)
        raise SystemExit(result.exit_code)
    return result

