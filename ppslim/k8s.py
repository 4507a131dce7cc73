"""Multi-node runs on Kubernetes: render Indexed Jobs (or a Kubeflow PaddleJob) from the config.

``ppslim k8s render`` writes ready-to-apply YAML; ``ppslim k8s apply`` renders and runs
``kubectl apply -f``; ``ppslim k8s launch`` is the pod's entry point. Every pod of an Indexed
``batch/v1`` Job runs ``paddle.distributed.launch --rank $JOB_COMPLETION_INDEX``; pod 0 hosts the
rendezvous on its own pod IP (the launcher only serves when ``--master`` is its own address) and the
others reach it as ``<job>-0.<job>`` through a headless Service of the same name. The config goes
into a ConfigMap exactly as :func:`ppslim.config.to_dict` writes it, so the pods run what was
validated here. Restarted pods resume from ``latest`` (``Global.checkpoints: auto``).
"""
from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

import yaml

from . import artifacts, config
from .config import StrEnum
from .errors import ConfigError, PpslimError

MASTER_PORT = 36543  # the Kubeflow operator's default rendezvous port
WORKDIR = "/workspace"
CONFIG_DIR = "/etc/ppslim"
CONFIG_PATH = f"{CONFIG_DIR}/config.yaml"
# Pod paths on the shared volumes: relative config paths (./dataset, ./output, ./inference) land here.
MOUNTS = {"dataset": f"{WORKDIR}/dataset", "output": f"{WORKDIR}/output", "inference": f"{WORKDIR}/inference"}
LOG_DIR = f"{WORKDIR}/output/logs/$(POD_NAME)"
# The stage and node count are env values the command expands, so kustomize overlays patch them by name.
STAGE_ARGS = ["$(PPSLIM_STAGE)", "-c", CONFIG_PATH]
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_MAX_NAME = 52  # pod hostnames are <job>-<index> and must stay within a 63-character DNS label


class Stage(StrEnum):
    TRAIN = "train"
    QAT = "qat"
    PRUNE = "prune"


class Kind(StrEnum):
    JOB = "job"              # batch/v1 Indexed Job + headless Service: any cluster
    PADDLEJOB = "paddlejob"  # kubeflow.org/v1 PaddleJob: clusters running the training operator


@dataclass(frozen=True)
class JobSpec:
    """Everything about a multi-node run that is not in the ppslim config."""
    stage: Stage
    nnodes: int
    image: str
    gpus_per_node: int = 0
    name: str = ""  # default ppslim-<stage>
    kind: Kind = Kind.JOB
    namespace: Optional[str] = None
    port: int = MASTER_PORT
    dataset_claim: str = "ppslim-dataset"
    output_claim: str = "ppslim-output"
    create_claims: bool = True
    storage: str = "50Gi"
    cpu: str = "4"
    memory: str = "16Gi"
    shm_size: str = "4Gi"
    backoff_limit: int = 3
    active_deadline_seconds: int = 24 * 3600
    ttl_seconds_after_finished: int = 7 * 24 * 3600
    step_timeout: int = 600

    @property
    def job_name(self) -> str:
        return self.name or f"ppslim-{self.stage}"


def make_spec(stage: str, nnodes: int, image: Optional[str], kind: str = "job", **kw) -> JobSpec:
    """Check the run's own arguments and build a :class:`JobSpec`.

    :raises ConfigError: naming the bad argument (``--nnodes: expected an integer >= 1, got 0``).
    """
    def choice(enum_type, value, flag):
        try:
            return enum_type(value)
        except ValueError:
            raise ConfigError(flag, f"{value!r} not in {[m.value for m in enum_type]}") from None

    spec = JobSpec(stage=choice(Stage, stage, "--stage"), nnodes=nnodes, image=(image or "").strip(),
                   kind=choice(Kind, kind, "--kind"), **kw)
    if spec.nnodes < 1:
        raise ConfigError("--nnodes", f"expected an integer >= 1, got {spec.nnodes}")
    if spec.gpus_per_node < 0:
        raise ConfigError("--gpus-per-node", f"expected an integer >= 0, got {spec.gpus_per_node}")
    if not spec.image or any(c.isspace() for c in spec.image):
        raise ConfigError("--image", f"expected a container image reference, got {image!r}")
    if not _NAME.fullmatch(spec.job_name) or len(spec.job_name) > _MAX_NAME:
        raise ConfigError("--name", f"{spec.job_name!r} is not a DNS label of at most {_MAX_NAME} characters "
                          "(lower-case letters, digits, '-')")
    for flag, value in (("--step-timeout", spec.step_timeout), ("--backoff-limit", spec.backoff_limit)):
        if value < 0:
            raise ConfigError(flag, f"expected an integer >= 0, got {value}")
    return spec


def load_config(path: str, overrides=(), gpus_per_node: int = 0) -> config.Config:
    """The config the pods will run, with two pod defaults that ``overrides`` can still replace:
    ``Global.checkpoints=auto`` (a restarted pod resumes from ``latest``) and, with GPUs per node,
    ``Global.device=gpu``."""
    defaults = ["Global.checkpoints=auto"] + (["Global.device=gpu"] if gpus_per_node else [])
    return config.load(path, [*defaults, *overrides])


def check_paths(cfg: config.Config, spec: JobSpec) -> None:
    """Refuse config paths that would not be on a shared volume inside the pod (their files would vanish).

    :raises ConfigError: naming the key and where it resolves in the pod.
    """
    g = cfg.Global
    paths = {"Global.output_dir": g.output_dir, "Global.save_inference_dir": g.save_inference_dir,
             "Global.pretrained_model": g.pretrained_model, "Global.inference_model_dir": g.inference_model_dir,
             "Global.checkpoints": None if g.checkpoints == "auto" else g.checkpoints}
    for section in ("Train", "Eval"):
        sec = getattr(cfg.DataLoader, section)
        if sec is not None:
            paths[f"DataLoader.{section}.dataset.image_root"] = sec.dataset.image_root
            paths[f"DataLoader.{section}.dataset.cls_label_path"] = sec.dataset.cls_label_path
    for key, value in paths.items():
        if not value:
            continue
        in_pod = posixpath.normpath(posixpath.join(WORKDIR, value))
        if not any(in_pod == m or in_pod.startswith(m + "/") for m in MOUNTS.values()):
            raise ConfigError(key, f"{value!r} is {in_pod} in the pod, outside the shared volumes "
                              f"({', '.join(MOUNTS.values())}); use a path under ./dataset, ./output or ./inference")
    if (spec.gpus_per_node > 0) != (g.device == config.Device.GPU):
        raise ConfigError("Global.device", f"{g.device.value!r} does not match --gpus-per-node {spec.gpus_per_node}; "
                          "use device gpu with GPUs per node >= 1, or cpu with 0")


# ------------------------------------------------------------------------------- manifests
def _labels(spec: JobSpec) -> dict:
    return {"app.kubernetes.io/name": "ppslim", "app.kubernetes.io/instance": spec.job_name,
            "app.kubernetes.io/component": spec.stage.value}


def _meta(spec: JobSpec, name: str) -> dict:
    meta = {"name": name, "labels": _labels(spec)}
    if spec.namespace:
        meta["namespace"] = spec.namespace
    return meta


def _field_env(name: str, path: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _devices(spec: JobSpec) -> list[str]:
    """``--devices 0,1,..`` for GPU pods; on CPU the flag must be left out (launch rejects it)."""
    return ["--devices", ",".join(str(i) for i in range(spec.gpus_per_node))] if spec.gpus_per_node else []


def _container(spec: JobSpec, command: list[str], env: list[dict], ports: list[dict]) -> dict:
    limits = {"memory": spec.memory}
    if spec.gpus_per_node:
        limits["nvidia.com/gpu"] = spec.gpus_per_node
    return {
        "name": "ppslim" if spec.kind == Kind.JOB else "paddle",  # the operator looks for "paddle"
        "image": spec.image,
        "command": command,
        "workingDir": WORKDIR,
        "env": env + [{"name": "PPSLIM_STAGE", "value": spec.stage.value},
                      {"name": "PPSLIM_STEP_TIMEOUT", "value": str(spec.step_timeout)},
                      {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "ports": ports,
        "resources": {"requests": {"cpu": spec.cpu, "memory": spec.memory}, "limits": limits},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "dataset", "mountPath": MOUNTS["dataset"], "readOnly": True},
            {"name": "output", "mountPath": MOUNTS["output"]},
            {"name": "output", "mountPath": MOUNTS["inference"], "subPath": "inference"},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }


def _pod_spec(spec: JobSpec, container: dict, config_name: str) -> dict:
    pod = {
        "restartPolicy": "OnFailure",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": config_name}},
            {"name": "dataset", "persistentVolumeClaim": {"claimName": spec.dataset_claim, "readOnly": True}},
            {"name": "output", "persistentVolumeClaim": {"claimName": spec.output_claim}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size}},
        ],
    }
    if spec.gpus_per_node:
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return pod


def job_command(spec: JobSpec) -> list[str]:
    """The Job pod's command: :func:`launch_command` picks the master by rank inside the pod."""
    return ["python", "-m", "ppslim", "k8s", "launch", "--nnodes", "$(PADDLE_NNODES)",
            "--rank", "$(JOB_COMPLETION_INDEX)", "--master", f"$(JOB_NAME)-0.$(JOB_NAME):{spec.port}",
            "--pod-ip", "$(POD_IP)", "--log-dir", LOG_DIR, *_devices(spec), "--", *STAGE_ARGS]


def indexed_job(spec: JobSpec, config_name: str) -> dict:
    """``batch/v1`` Job with one pod per node, ``completions = parallelism = nnodes``."""
    env = [_field_env("JOB_COMPLETION_INDEX", "metadata.annotations['batch.kubernetes.io/job-completion-index']"),
           _field_env("JOB_NAME", "metadata.labels['batch.kubernetes.io/job-name']"),
           _field_env("POD_NAME", "metadata.name"), _field_env("POD_IP", "status.podIP"),
           {"name": "PADDLE_NNODES", "value": str(spec.nnodes)}]
    ports = [{"name": "master", "containerPort": spec.port}]
    pod = _pod_spec(spec, _container(spec, job_command(spec), env, ports), config_name)
    pod["subdomain"] = spec.job_name  # <job>-<index>.<job> resolves through the headless Service
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(spec, spec.job_name),
        "spec": {
            "completionMode": "Indexed", "completions": spec.nnodes, "parallelism": spec.nnodes,
            "backoffLimit": spec.backoff_limit, "activeDeadlineSeconds": spec.active_deadline_seconds,
            "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": _labels(spec)}, "spec": pod},
        },
    }


def headless_service(spec: JobSpec) -> dict:
    """Gives pod ``<job>-<i>`` the DNS name ``<job>-<i>.<job>`` before it is ready (rendezvous comes first)."""
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(spec, spec.job_name),
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": _labels(spec),
                 "ports": [{"name": "master", "port": spec.port, "targetPort": spec.port}]},
    }


def paddle_job(spec: JobSpec, config_name: str) -> dict:
    """``kubeflow.org/v1`` PaddleJob: the operator sets ``PADDLE_MASTER``/``PADDLE_NNODES`` and the Service."""
    env = [_field_env("PADDLE_RANK", "metadata.labels['training.kubeflow.org/replica-index']"),
           _field_env("POD_NAME", "metadata.name"), _field_env("POD_IP", "status.podIP")]
    command = ["python", "-m", "paddle.distributed.launch", "--log_dir", LOG_DIR, *_devices(spec),
               "ppslim", *STAGE_ARGS]
    ports = [{"name": "master", "containerPort": spec.port}]
    pod = _pod_spec(spec, _container(spec, command, env, ports), config_name)
    return {
        "apiVersion": "kubeflow.org/v1", "kind": "PaddleJob", "metadata": _meta(spec, spec.job_name),
        "spec": {
            "runPolicy": {"backoffLimit": spec.backoff_limit, "activeDeadlineSeconds": spec.active_deadline_seconds,
                          "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished, "cleanPodPolicy": "None"},
            "paddleReplicaSpecs": {"Worker": {"replicas": spec.nnodes, "restartPolicy": "OnFailure",
                                              "template": {"metadata": {"labels": _labels(spec)}, "spec": pod}}},
        },
    }


def config_map(spec: JobSpec, cfg: config.Config) -> dict:
    """The validated config as ``config.yaml``, mounted at ``/etc/ppslim`` in every pod."""
    text = yaml.safe_dump(config.to_dict(cfg), sort_keys=False, default_flow_style=None)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(spec, f"{spec.job_name}-config"),
            "data": {"config.yaml": text}}


def claims(spec: JobSpec) -> list[dict]:
    """Shared ``ReadWriteMany`` volumes: every node reads the data and writes checkpoints in one place."""
    return [{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(spec, name),
             "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": spec.storage}}}}
            for name in (spec.dataset_claim, spec.output_claim)]


def render(spec: JobSpec, cfg: config.Config) -> list[dict]:
    """All objects of one run, in apply order: claims, ConfigMap, Service, Job (or a PaddleJob).

    :raises ConfigError: when a config path would not be on a shared volume, or device and GPUs disagree.
    """
    check_paths(cfg, spec)
    cm = config_map(spec, cfg)
    objects = (claims(spec) if spec.create_claims else []) + [cm]
    if spec.kind == Kind.PADDLEJOB:
        return objects + [paddle_job(spec, cm["metadata"]["name"])]
    return objects + [headless_service(spec), indexed_job(spec, cm["metadata"]["name"])]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the ConfigMap's config.yaml) as readable ``|`` blocks."""


def _str(dumper, text: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _str)


def to_yaml(objects: list[dict]) -> str:
    """Multi-document YAML for ``kubectl apply -f``."""
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


# ------------------------------------------------------------------------------- in the pod
def launch_command(rank: int, nnodes: int, master: str, pod_ip: str, log_dir: str, devices: Optional[str],
                   stage_args: list[str], script: Optional[str] = None) -> list[str]:
    """``paddle.distributed.launch`` argv for one pod.

    Rank 0 must name its own address as master, or the launcher waits for a master that never
    starts; the others use the headless-Service name ``master``.

    :param script: what each worker runs; default the ``ppslim`` console script beside this Python.
    """
    port = master.rsplit(":", 1)[-1]
    own_master = f"{pod_ip}:{port}" if rank == 0 else master
    script = script or os.path.join(os.path.dirname(sys.executable), "ppslim")
    return [sys.executable, "-m", "paddle.distributed.launch", "--master", own_master, "--nnodes", str(nnodes),
            "--rank", str(rank), "--log_dir", log_dir, *(["--devices", devices] if devices else []),
            script, *stage_args]


# ------------------------------------------------------------------------------- CLI
@dataclass(frozen=True)
class RenderResult:
    kind: str
    job: str
    nnodes: int
    objects: tuple[str, ...]
    path: Optional[str] = None
    manifest: str = ""
    applied: str = ""

    def report(self) -> str:
        """The YAML itself when it went to stdout, else one summary line."""
        if self.path is None:
            return self.manifest.rstrip("\n")
        done = f"; kubectl: {self.applied}" if self.applied else ""
        return f"{self.kind} {self.job} ({self.nnodes} nodes): {', '.join(self.objects)} -> {self.path}{done}"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="k8s_command", required=True)
    for name in ("render", "apply"):
        r = sub.add_parser(name, help="write the manifests" if name == "render" else "render, then kubectl apply -f")
        r.add_argument("-c", "--config", required=True, help="PaddleClas-style YAML config")
        r.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE")
        r.add_argument("--stage", required=True, help=f"one of {[s.value for s in Stage]}")
        r.add_argument("--nnodes", type=int, required=True, help="pods (nodes) in the job")
        r.add_argument("--gpus-per-node", type=int, default=0,
                       help="GPUs per pod; 0 = CPU, more implies Global.device=gpu")
        r.add_argument("--image", help="container image with ppslim installed (see the Dockerfile)")
        r.add_argument("--kind", default="job", help="job (batch/v1 Indexed Job) or paddlejob (Kubeflow)")
        r.add_argument("--name", default="", help="job name (default ppslim-<stage>)")
        r.add_argument("--namespace", default=None)
        r.add_argument("--dataset-claim", default="ppslim-dataset")
        r.add_argument("--output-claim", default="ppslim-output")
        r.add_argument("--existing-claims", action="store_true", help="do not render the two PVCs")
        r.add_argument("--step-timeout", type=int, default=600, help="seconds before a stuck rank is ended")
        r.add_argument("--out", help="YAML file (default: render prints it, apply writes output/k8s/<job>.yaml)")
        r.add_argument("--json", action="store_true")
    lp = sub.add_parser("launch", help="(inside a pod) start paddle.distributed.launch for this rank")
    lp.add_argument("--nnodes", type=int, required=True)
    lp.add_argument("--rank", type=int, required=True)
    lp.add_argument("--master", required=True, help="HOST:PORT of pod 0 as the other pods reach it")
    lp.add_argument("--pod-ip", required=True, help="this pod's IP (rank 0 serves the rendezvous on it)")
    lp.add_argument("--log-dir", required=True)
    lp.add_argument("--devices", default=None)
    lp.add_argument("stage_args", nargs="+", help="after --: the ppslim stage command line")
    lp.set_defaults(json=False)


def main(args) -> RenderResult:
    if args.k8s_command == "launch":
        argv = launch_command(args.rank, args.nnodes, args.master, args.pod_ip, args.log_dir, args.devices,
                              args.stage_args)
        os.execv(argv[0], argv)
    overrides = tuple(item for group in args.override for item in group)
    spec = make_spec(args.stage, args.nnodes, args.image, args.kind, gpus_per_node=args.gpus_per_node,
                     name=args.name, namespace=args.namespace, dataset_claim=args.dataset_claim,
                     output_claim=args.output_claim, create_claims=not args.existing_claims,
                     step_timeout=args.step_timeout)
    kubectl = shutil.which("kubectl") if args.k8s_command == "apply" else None
    if args.k8s_command == "apply" and kubectl is None:
        raise PpslimError("kubectl not found on PATH: install it, or run `ppslim k8s render --out FILE` "
                          "and `kubectl apply -f FILE` where it is installed")
    objects = render(spec, load_config(args.config, overrides, spec.gpus_per_node))
    text = to_yaml(objects)
    path = args.out
    if kubectl and not path:
        path = os.path.join("output", "k8s", f"{spec.job_name}.yaml")
    if path:
        with artifacts.atomic_file(path) as f:
            f.write(text)
    result = RenderResult(kind=objects[-1]["kind"], job=spec.job_name, nnodes=spec.nnodes,
                          objects=tuple(f"{o['kind']}/{o['metadata']['name']}" for o in objects),
                          path=path, manifest=text)
    if kubectl is None:
        return result
    return dataclasses.replace(result, applied=apply(kubectl, path))


def apply(kubectl: str, path: str) -> str:
    """``kubectl apply -f path``; a missing cluster or a refused object becomes one :class:`PpslimError` line."""
    try:
        proc = subprocess.run([kubectl, "apply", "-f", path], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise PpslimError(f"kubectl apply -f {path}: no answer from the cluster within 120 s") from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()] or ["(no output)"]
        reason = lines[-1].strip().removeprefix("error: ")
        raise PpslimError(f"kubectl apply -f {path} failed (is a cluster configured? `kubectl cluster-info`): {reason}")
    return "; ".join(line.strip() for line in proc.stdout.splitlines() if line.strip())
