"""Runs on Kubernetes: render Indexed Jobs (or a Kubeflow PaddleJob) from the config.

``ppslim k8s render`` writes ready-to-apply YAML; ``ppslim k8s apply`` renders and runs
``kubectl apply -f``; ``ppslim k8s launch`` is the pod's entry point. Every pod of an Indexed
``batch/v1`` Job runs ``paddle.distributed.launch --rank $JOB_COMPLETION_INDEX``; pod 0 hosts the
rendezvous on its own pod IP (the launcher only serves when ``--master`` is its own address) and the
others reach it as ``<job>-0.<job>`` through a headless Service of the same name. The config goes
into a ConfigMap exactly as :func:`ppslim.config.to_dict` writes it, so the pods run what was
validated here. Restarted pods resume from ``latest`` (``Global.checkpoints: auto``).

``ptq``, ``export`` and ``eval`` run as a single-pod Job (no rendezvous, no Service). A rendered file
holds only the job's own objects (ConfigMap, Service, Job), all named after the job: the shared
data and output claims live in ``k8s/volumes`` alone, so ``kubectl delete -f <job>.yaml`` never
deletes shared data. Pod size, shm, nodeSelector, tolerations, imagePullSecrets and priorityClass
come from flags (defaults below).
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
    PTQ = "ptq"
    EXPORT = "export"
    EVAL = "eval"


# Stages that run in one process on one pod: a plain single-pod Job, no launcher, no Service.
SINGLE_POD = (Stage.PTQ, Stage.EXPORT, Stage.EVAL)
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


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
    cpu: str = "4"
    memory: str = "16Gi"
    shm_size: str = "4Gi"
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[dict, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()
    priority_class: Optional[str] = None
    backoff_limit: int = 3
    active_deadline_seconds: int = 24 * 3600
    ttl_seconds_after_finished: int = 7 * 24 * 3600
    step_timeout: int = 600

    @property
    def job_name(self) -> str:
        return self.name or f"ppslim-{self.stage}"

    @property
    def single_pod(self) -> bool:
        return self.stage in SINGLE_POD


_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


def parse_node_selector(items) -> tuple[tuple[str, str], ...]:
    """``["disktype=ssd", ...]`` -> pairs; one line naming the flag for a malformed item."""
    out = []
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--node-selector", f"expected KEY=VALUE, got {item!r}")
        out.append((key, value))
    return tuple(out)


def parse_toleration(item: str) -> dict:
    """``KEY[=VALUE][:EFFECT]`` -> a toleration (``Exists`` without a value, ``Equal`` with one)."""
    rest, _, effect = item.rpartition(":") if ":" in item else (item, "", "")
    key, sep, value = rest.partition("=")
    if not key or (effect and effect not in _TAINT_EFFECTS):
        raise ConfigError("--toleration", f"expected KEY[=VALUE][:{'|'.join(_TAINT_EFFECTS)}], got {item!r}")
    tol = {"key": key, "operator": "Equal", "value": value} if sep else {"key": key, "operator": "Exists"}
    return {**tol, "effect": effect} if effect else tol


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
    if spec.single_pod and spec.nnodes != 1:
        raise ConfigError("--nnodes", f"{spec.stage.value} runs on one pod; use --nnodes 1, got {spec.nnodes}")
    if spec.single_pod and spec.kind == Kind.PADDLEJOB:
        raise ConfigError("--kind", f"paddlejob is for distributed training; {spec.stage.value} renders a plain Job")
    for flag, value in (("--cpu", spec.cpu), ("--memory", spec.memory), ("--shm-size", spec.shm_size)):
        if not _QUANTITY.fullmatch(str(value)):
            raise ConfigError(flag, f"expected a Kubernetes quantity such as 4, 500m, 16Gi, got {value!r}")
    for flag, names in (("--image-pull-secret", spec.image_pull_secrets),
                        ("--priority-class", [spec.priority_class] if spec.priority_class else [])):
        for value in names:
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value):
                raise ConfigError(flag, f"{value!r} is not a Kubernetes object name")
    if spec.gpus_per_node < 0:
        raise ConfigError("--gpus-per-node", f"expected an integer >= 0, got {spec.gpus_per_node}")
    if not spec.image:
        raise ConfigError("--image", "required: a container image with ppslim that the cluster can pull, "
                          "e.g. --image registry.example.com/ppslim:gpu (make k8s-render K8S_IMAGE=...)")
    if any(c.isspace() for c in spec.image):
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
    if cfg.Slim.ptq is not None:
        for key in ("model_dir", "output_dir", "calib_dir"):
            paths[f"Slim.ptq.{key}"] = getattr(cfg.Slim.ptq, key)
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
        **({"ports": ports} if ports else {}),
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
    tolerations = list(spec.tolerations)
    if spec.gpus_per_node:
        tolerations.insert(0, {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    if tolerations:
        pod["tolerations"] = tolerations
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in spec.image_pull_secrets]
    if spec.priority_class:
        pod["priorityClassName"] = spec.priority_class
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


def single_pod_job(spec: JobSpec, config_name: str) -> dict:
    """``batch/v1`` Job of one pod running the stage directly (``ptq``, ``export``, ``eval``)."""
    command = ["python", "-m", "ppslim", *STAGE_ARGS]
    env = [_field_env("POD_NAME", "metadata.name")]
    pod = _pod_spec(spec, _container(spec, command, env, []), config_name)
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(spec, spec.job_name),
        "spec": {
            "completions": 1, "parallelism": 1, "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
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


def render(spec: JobSpec, cfg: config.Config) -> list[dict]:
    """The job's own objects, in apply order: ConfigMap, Service, Job (or a PaddleJob; a single-pod
    Job has no Service). The shared claims are only referenced: they come from ``k8s/volumes``.

    :raises ConfigError: when a config path would not be on a shared volume, or device and GPUs disagree.
    """
    check_paths(cfg, spec)
    cm = config_map(spec, cfg)
    objects = [cm]
    if spec.single_pod:
        return objects + [single_pod_job(spec, cm["metadata"]["name"])]
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
        what = ("write the job's manifests (ConfigMap, Service, Job) to --out or stdout" if name == "render"
                else "render to output/k8s/<job>.yaml (or --out), then kubectl apply -f it")
        r = sub.add_parser(name, help=what, description=what + ". The shared claims are not in the file: create "
                           "them once with `kubectl apply -k k8s/volumes`.")
        r.add_argument("-c", "--config", required=True, help="PaddleClas-style YAML config")
        r.add_argument("-o", "--override", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                       help="set a config key, as for every stage (repeatable)")
        r.add_argument("--stage", required=True, help=f"one of {[s.value for s in Stage]}; "
                       f"{', '.join(s.value for s in SINGLE_POD)} run on one pod")
        r.add_argument("--nnodes", type=int, default=1, help="pods (nodes) in the job (default 1)")
        r.add_argument("--gpus-per-node", type=int, default=0,
                       help="GPUs per pod; 0 = CPU, more implies Global.device=gpu")
        r.add_argument("--image", help="(required) container image with ppslim installed that the cluster can "
                       "pull, e.g. registry.example.com/ppslim:gpu (see the Dockerfile)")
        r.add_argument("--cpu", default=JobSpec.cpu, help=f"CPU request per pod (default {JobSpec.cpu})")
        r.add_argument("--memory", default=JobSpec.memory,
                       help=f"memory request and limit per pod (default {JobSpec.memory})")
        r.add_argument("--shm-size", default=JobSpec.shm_size,
                       help=f"size of the in-memory /dev/shm (default {JobSpec.shm_size})")
        r.add_argument("--node-selector", action="append", default=[], metavar="KEY=VALUE",
                       help="schedule only on nodes with this label (repeatable)")
        r.add_argument("--toleration", action="append", default=[], metavar="KEY[=VALUE][:EFFECT]",
                       help="tolerate this taint (repeatable; GPU pods tolerate nvidia.com/gpu already)")
        r.add_argument("--image-pull-secret", action="append", default=[], metavar="NAME",
                       help="registry Secret for a private image (repeatable)")
        r.add_argument("--priority-class", default=None, metavar="NAME", help="PriorityClass of the pods")
        r.add_argument("--kind", default="job", help="job (batch/v1 Indexed Job, default) or paddlejob (Kubeflow)")
        r.add_argument("--name", default="", help="job name (default ppslim-<stage>)")
        r.add_argument("--namespace", default=None, help="namespace of the job's objects (default: kubectl's)")
        r.add_argument("--dataset-claim", default="ppslim-dataset",
                       help="existing claim with the data sets (k8s/volumes creates it)")
        r.add_argument("--output-claim", default="ppslim-output",
                       help="existing claim for checkpoints, models and logs (k8s/volumes creates it)")
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
                     output_claim=args.output_claim, step_timeout=args.step_timeout, cpu=args.cpu,
                     memory=args.memory, shm_size=args.shm_size,
                     node_selector=parse_node_selector(args.node_selector),
                     tolerations=tuple(parse_toleration(t) for t in args.toleration),
                     image_pull_secrets=tuple(args.image_pull_secret), priority_class=args.priority_class)
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
