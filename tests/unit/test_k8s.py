"""Kubernetes manifests: schema-valid for a pinned cluster version, wired for rendezvous, bad input refused.

No cluster runs here: objects are checked with ``kubernetes-validate --strict`` (Job, Service,
ConfigMap, PVC) and the PaddleJob with ``jsonschema`` against the Kubeflow CRD. The checked-in
kustomize tree (``k8s/``) is built with ``kubectl kustomize`` and must match the renderer.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ppslim import config, k8s
from ppslim.errors import ConfigError, PpslimError

from tests.conftest import REPO, run_cli

K8S_VERSION = "1.30.0"  # pinned: oldest minor still commonly deployed; Indexed Jobs and job-name labels are GA
CRD = REPO / "tests" / "data" / "kubeflow.org_paddlejobs.v1.9.0.yaml"  # upstream Kubeflow training-operator v1.9.0 CRD, vendored
CONFIGS = {stage: str(REPO / "configs" / "digits" / f"{stage}.yaml") for stage in ("train", "qat", "prune", "ptq")}
CONFIGS.update(export=CONFIGS["train"], eval=CONFIGS["train"])
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="kubectl not installed (Debian: kubernetes-client)")


def render(stage="qat", nnodes=2, gpus=0, kind="job", *overrides, image="ppslim:gpu", **kw):
    spec = k8s.make_spec(stage, nnodes, image, kind, gpus_per_node=gpus, **kw)
    return k8s.render(spec, k8s.load_config(CONFIGS[stage], overrides, gpus))


def by_kind(objects) -> dict:
    return {o["kind"]: o for o in objects}


def container(job: dict) -> dict:
    [c] = pod_spec(job)["containers"]
    return c


def env_of(c: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def strict_k8s(objects) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def strictify(schema: dict) -> dict:
    """Forbid unknown keys wherever the CRD lists properties (the API server would prune them)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(schema)
    return schema


@pytest.fixture(scope="module")
def paddlejob_schema() -> dict:
    with open(CRD, encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return strictify(version["schema"]["openAPIV3Schema"])


# ------------------------------------------------------------------------------- schema
@pytest.mark.parametrize("stage,nnodes,gpus", [("train", 1, 0), ("qat", 2, 0), ("qat", 4, 8), ("prune", 3, 1)])
def test_rendered_job_objects_pass_strict_schema(stage, nnodes, gpus):
    objects = render(stage, nnodes, gpus)
    assert [o["kind"] for o in objects] == ["ConfigMap", "Service", "Job"]  # claims come from k8s/volumes
    strict_k8s(objects)


def test_rendered_file_passes_kubernetes_validate_cli(tmp_path):
    out = tmp_path / "qat.yaml"
    proc = run_cli("k8s", "render", "--stage", "qat", "--nnodes", "2", "--image", "ppslim:cpu",
                   "-c", CONFIGS["qat"], "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    cli = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
    check = subprocess.run([cli, "--strict", "-k", K8S_VERSION, str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("passed") == 3
    assert "PersistentVolumeClaim" not in out.read_text()


def test_paddlejob_matches_the_kubeflow_crd(paddlejob_schema):
    objects = render("qat", 3, 2, "paddlejob")
    strict_k8s([o for o in objects if o["kind"] != "PaddleJob"])
    job = by_kind(objects)["PaddleJob"]
    jsonschema.validate(job, paddlejob_schema)
    assert job["spec"]["paddleReplicaSpecs"]["Worker"]["replicas"] == 3
    bad = copy.deepcopy(job)
    bad["spec"]["paddleReplicaSpecs"]["Worker"]["replica"] = 3  # typo: the strict schema must catch it
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, paddlejob_schema)


# ------------------------------------------------------------------------------- wiring
def test_indexed_job_rendezvous_wiring():
    objects = by_kind(render("qat", 3, 2, name="qat-run"))
    job, svc = objects["Job"], objects["Service"]
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 3
    assert {"backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"} <= spec.keys()
    assert svc["metadata"]["name"] == pod["subdomain"] == job["metadata"]["name"] == "qat-run"
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    c = container(job)
    cmd, env = c["command"], env_of(c)
    assert cmd[cmd.index("--rank") + 1] == "$(JOB_COMPLETION_INDEX)"
    assert cmd[cmd.index("--master") + 1] == "$(JOB_NAME)-0.$(JOB_NAME):36543"
    assert cmd[cmd.index("--pod-ip") + 1] == "$(POD_IP)"
    assert cmd[cmd.index("--devices") + 1] == "0,1"
    assert "$(POD_NAME)" in cmd[cmd.index("--log-dir") + 1]
    assert cmd[cmd.index("--") + 1:] == ["$(PPSLIM_STAGE)", "-c", k8s.CONFIG_PATH]
    assert env["PPSLIM_STAGE"] == "qat" and env["PADDLE_NNODES"] == "3"
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["JOB_COMPLETION_INDEX"]["fieldRef"]["fieldPath"] == \
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert env["JOB_NAME"]["fieldRef"]["fieldPath"] == "metadata.labels['batch.kubernetes.io/job-name']"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 2


def test_launch_command_rank0_serves_on_its_pod_ip():
    master = "job-0.job:36543"
    rank0 = k8s.launch_command(0, 2, master, "10.1.2.3", "/logs/pod-a", None, ["qat", "-c", "c.yaml"])
    rank1 = k8s.launch_command(1, 2, master, "10.1.2.4", "/logs/pod-b", "0,1", ["qat", "-c", "c.yaml"])
    assert rank0[:3] == [sys.executable, "-m", "paddle.distributed.launch"]
    assert rank0[rank0.index("--master") + 1] == "10.1.2.3:36543"
    assert rank1[rank1.index("--master") + 1] == master
    assert rank0[rank0.index("--rank") + 1] == "0" and rank1[rank1.index("--rank") + 1] == "1"
    assert rank0[rank0.index("--log_dir") + 1] == "/logs/pod-a"
    assert "--devices" not in rank0 and rank1[rank1.index("--devices") + 1] == "0,1"  # CPU: no --devices
    assert rank0[-4:] == [os.path.join(os.path.dirname(sys.executable), "ppslim"), "qat", "-c", "c.yaml"]


def test_pods_are_hardened_and_carry_no_secrets():
    for kind in ("job", "paddlejob"):
        job = render("prune", 2, 1, kind)[-1]
        pod, c = pod_spec(job), container(job)
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert c["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}} in pod["volumes"]
        assert {v["name"] for v in pod["volumes"]} >= {"config", "dataset", "output", "dshm"}
        # Paddle copies the environment into its log files: only downward-API fields and plain settings.
        for e in c["env"]:
            assert set(e) <= {"name", "value", "valueFrom"}
            assert "fieldRef" in e.get("valueFrom", {"fieldRef": None})
            assert not any(word in e["name"].upper() for word in ("SECRET", "TOKEN", "PASSWORD", "KEY"))


def test_paddlejob_leaves_master_to_the_operator():
    job = render("qat", 2, 1, "paddlejob")[-1]
    c = container(job)
    assert c["name"] == "paddle" and {"name": "master", "containerPort": 36543} in c["ports"]
    assert c["command"][:3] == ["python", "-m", "paddle.distributed.launch"] and "--master" not in c["command"]
    env = env_of(c)
    assert "PADDLE_MASTER" not in env and "PADDLE_NNODES" not in env
    assert env["PADDLE_RANK"]["fieldRef"]["fieldPath"] == "metadata.labels['training.kubeflow.org/replica-index']"


def test_configmap_holds_the_validated_config():
    cfg = k8s.load_config(CONFIGS["qat"])
    text = by_kind(render("qat"))["ConfigMap"]["data"]["config.yaml"]
    assert cfg.Global.checkpoints == "auto"  # a restarted pod resumes from latest
    assert config.to_dict(config.from_dict(yaml.safe_load(text))) == config.to_dict(cfg)


# ------------------------------------------------------------------------------- refused input
@pytest.mark.parametrize("args,key", [
    (dict(stage="qat", nnodes=0, image="img"), "--nnodes"),
    (dict(stage="quant", nnodes=2, image="img"), "--stage"),
    (dict(stage="qat", nnodes=2, image=None), "--image"),
    (dict(stage="qat", nnodes=2, image="   "), "--image"),
    (dict(stage="qat", nnodes=2, image="img", kind="mpijob"), "--kind"),
    (dict(stage="qat", nnodes=2, image="img", name="Bad_Name"), "--name"),
    (dict(stage="ptq", nnodes=2, image="img"), "--nnodes"),
    (dict(stage="ptq", nnodes=1, image="img", kind="paddlejob"), "--kind"),
    (dict(stage="qat", nnodes=2, image="img", memory="16 GB"), "--memory"),
    (dict(stage="qat", nnodes=2, image="img", shm_size="lots"), "--shm-size"),
    (dict(stage="qat", nnodes=2, image="img", image_pull_secrets=("Bad Secret",)), "--image-pull-secret"),
])
def test_bad_arguments_are_refused(args, key):
    with pytest.raises(ConfigError) as info:
        k8s.make_spec(**args)
    assert info.value.key_path == key


@pytest.mark.parametrize("override,key", [
    ("Global.output_dir=/data/out", "Global.output_dir"),
    ("Global.save_inference_dir=../inference", "Global.save_inference_dir"),
    ("DataLoader.Train.dataset.image_root=/mnt/digits", "DataLoader.Train.dataset.image_root"),
    ("Slim.ptq.calib_dir=/mnt/my_images", "Slim.ptq.calib_dir"),
])
def test_config_paths_off_the_volumes_are_refused(override, key):
    with pytest.raises(ConfigError) as info:
        render("qat", 2, 0, "job", override)
    assert info.value.key_path == key


def test_device_follows_gpus_per_node_unless_contradicted():
    assert "0,1" in container(render("qat", 2, 2)[-1])["command"]  # digits config says cpu: GPUs imply gpu
    for gpus, device in ((0, "gpu"), (2, "cpu")):
        with pytest.raises(ConfigError, match="--gpus-per-node") as info:
            render("qat", 2, gpus, "job", f"Global.device={device}")
        assert info.value.key_path == "Global.device"


def test_cli_refuses_before_writing(tmp_path):
    out = tmp_path / "job.yaml"
    for bad in (["--nnodes", "0", "--stage", "qat", "--image", "i"], ["--nnodes", "2", "--stage", "x", "--image", "i"],
                ["--nnodes", "2", "--stage", "qat"]):
        proc = run_cli("k8s", "render", "-c", CONFIGS["qat"], "--out", str(out), *bad)
        assert proc.returncode == 2 and proc.stderr.startswith("error: --"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_apply_without_kubectl_is_one_line(tmp_path):
    env_path = os.environ["PATH"]
    os.environ["PATH"] = str(tmp_path)
    try:
        with pytest.raises(PpslimError, match="kubectl not found on PATH"):
            k8s.main(build_args("apply", tmp_path / "job.yaml"))
    finally:
        os.environ["PATH"] = env_path
    assert not (tmp_path / "job.yaml").exists()


@needs_kubectl
def test_apply_without_a_cluster_is_one_line(tmp_path):
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    proc = subprocess.run([sys.executable, "-m", "ppslim", "k8s", "apply", "--stage", "qat", "--nnodes", "2",
                           "--image", "ppslim:cpu", "-c", CONFIGS["qat"], "--out", str(tmp_path / "job.yaml")],
                          cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: kubectl apply -f") and len(proc.stderr.strip().splitlines()) == 1


def build_args(command, out):
    from ppslim.cli import build_parser

    return build_parser().parse_args(["k8s", command, "--stage", "qat", "--nnodes", "2", "--image", "img",
                                      "-c", CONFIGS["qat"], "--out", str(out)])


# ------------------------------------------------------------------------------- kustomize tree
def kustomize(path: str) -> list[dict]:
    proc = subprocess.run(["kubectl", "kustomize", str(REPO / "k8s" / path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [o for o in yaml.safe_load_all(proc.stdout) if o]


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "Job":
        return obj["spec"]["template"]["spec"]
    return obj["spec"]["paddleReplicaSpecs"]["Worker"]["template"]["spec"]


def config_map_name(obj: dict) -> str:
    return next(v["configMap"]["name"] for v in pod_spec(obj)["volumes"] if "configMap" in v)


def without_config_name(obj: dict) -> dict:
    """Kustomize appends a content hash to generated ConfigMap names and moves patched env entries
    first (order only matters for ``$(VAR)`` inside env values, which these do not use)."""
    obj = copy.deepcopy(obj)
    for vol in pod_spec(obj)["volumes"]:
        vol.get("configMap", {}).pop("name", None)
    for c in pod_spec(obj)["containers"]:
        c["env"].sort(key=lambda e: e["name"])
    return obj


@needs_kubectl
@pytest.mark.parametrize("path,stage,name,kind", [
    ("base", "train", "ppslim", "job"), ("overlays/qat", "qat", "ppslim-qat", "job"),
    ("overlays/prune", "prune", "ppslim-prune", "job"), ("kubeflow", "qat", "ppslim-qat", "paddlejob"),
])
def test_kustomize_tree_matches_the_renderer(path, stage, name, kind, paddlejob_schema):
    built = by_kind(kustomize(path))
    rendered = by_kind(render(stage, 2, 1, kind, name=name))
    workload = "Job" if kind == "job" else "PaddleJob"
    strict_k8s([o for o in built.values() if o["kind"] != "PaddleJob"])
    if kind == "paddlejob":
        jsonschema.validate(built["PaddleJob"], paddlejob_schema)
    else:
        assert built["Service"]["spec"] == rendered["Service"]["spec"]
    assert without_config_name(built[workload]) == without_config_name(rendered[workload])
    assert config_map_name(built[workload]) == built["ConfigMap"]["metadata"]["name"]  # generated name reached the pod
    assert yaml.safe_load(built["ConfigMap"]["data"]["config.yaml"]) == \
        yaml.safe_load(rendered["ConfigMap"]["data"]["config.yaml"])


@needs_kubectl
def test_kustomize_volumes_are_shared_claims():
    claims = kustomize("volumes")
    strict_k8s(claims)
    assert [c["metadata"]["name"] for c in claims] == ["ppslim-dataset", "ppslim-output"]


# ------------------------------------------------------------------------------- own objects only, sizes from flags
def kube_keys(objects) -> set:
    """What ``kubectl delete -f`` deletes: every (kind, namespace, name) in the file."""
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}


def test_deleting_a_job_file_removes_only_that_jobs_objects(tmp_path):
    files = {}
    for stage, nnodes in (("qat", 2), ("prune", 2), ("ptq", 1)):
        out = tmp_path / f"{stage}.yaml"
        proc = run_cli("k8s", "render", "--stage", stage, "--nnodes", str(nnodes), "--image", "ppslim:cpu",
                       "-c", CONFIGS[stage], "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        files[stage] = list(yaml.safe_load_all(out.read_text()))
    shared = {("PersistentVolumeClaim", None, name) for name in ("ppslim-dataset", "ppslim-output")}
    assert shared == kube_keys(kustomize_or_file("volumes"))
    for stage, objects in files.items():
        keys = kube_keys(objects)
        assert not keys & shared, f"kubectl delete -f {stage}.yaml would delete the shared claims"
        assert all(name.startswith(f"ppslim-{stage}") for _, _, name in keys), keys
        assert {o["metadata"]["labels"]["app.kubernetes.io/instance"] for o in objects} == {f"ppslim-{stage}"}
        for other, other_objects in files.items():
            if other != stage:
                assert not keys & kube_keys(other_objects), (stage, other)
        pod = pod_spec(objects[-1])
        claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
        assert claims == {"ppslim-dataset", "ppslim-output"}  # referenced, not owned


def kustomize_or_file(path: str) -> list[dict]:
    """``k8s/<path>`` built with kubectl when installed, else its plain resource files."""
    if shutil.which("kubectl"):
        return kustomize(path)
    with open(REPO / "k8s" / path / "pvc.yaml", encoding="utf-8") as f:
        return [o for o in yaml.safe_load_all(f) if o]


def test_pod_resources_and_scheduling_come_from_flags(tmp_path):
    out = tmp_path / "qat.yaml"
    proc = run_cli("k8s", "render", "--stage", "qat", "--nnodes", "2", "--gpus-per-node", "1",
                   "--image", "registry.example.com/ppslim:gpu", "-c", CONFIGS["qat"], "--out", str(out),
                   "--cpu", "8", "--memory", "32Gi", "--shm-size", "8Gi", "--node-selector", "pool=gpu-a100",
                   "--node-selector", "zone=b", "--toleration", "dedicated=ml:NoSchedule", "--toleration", "spot",
                   "--image-pull-secret", "regcred", "--priority-class", "batch-high")
    assert proc.returncode == 0, proc.stderr
    cli = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
    check = subprocess.run([cli, "--strict", "-k", K8S_VERSION, str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    job = by_kind(yaml.safe_load_all(out.read_text()))["Job"]
    pod, c = pod_spec(job), container(job)
    assert c["resources"] == {"requests": {"cpu": "8", "memory": "32Gi"},
                              "limits": {"memory": "32Gi", "nvidia.com/gpu": 1}}
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in pod["volumes"]
    assert pod["nodeSelector"] == {"pool": "gpu-a100", "zone": "b"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                  {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
                                  {"key": "spot", "operator": "Exists"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}] and pod["priorityClassName"] == "batch-high"
    # without the flags: today's sizes, nothing else scheduled
    plain = render("qat", 2, 0)[-1]
    assert container(plain)["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi"}}
    assert not {"nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName"} & pod_spec(plain).keys()


@pytest.mark.parametrize("stage", ["ptq", "export", "eval"])
def test_single_pod_stages_render_a_plain_job(stage):
    objects = render(stage, 1, 0)
    assert [o["kind"] for o in objects] == ["ConfigMap", "Job"]
    strict_k8s(objects)
    job = objects[-1]
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 1 and "completionMode" not in job["spec"]
    c = container(job)
    assert c["command"] == ["python", "-m", "ppslim", "$(PPSLIM_STAGE)", "-c", k8s.CONFIG_PATH]
    assert env_of(c)["PPSLIM_STAGE"] == stage and "ports" not in c


def test_ptq_job_on_a_gpu_node_renders_and_validates(tmp_path):
    out = tmp_path / "ptq.yaml"
    proc = run_cli("k8s", "render", "--stage", "ptq", "--gpus-per-node", "1", "--image", "r.example.com/ppslim:gpu",
                   "-c", CONFIGS["ptq"], "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    cli = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
    check = subprocess.run([cli, "--strict", "-k", K8S_VERSION, str(out)], capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count("passed") == 2, check.stdout + check.stderr
    cfg = yaml.safe_load(by_kind(yaml.safe_load_all(out.read_text()))["ConfigMap"]["data"]["config.yaml"])
    assert cfg["Global"]["device"] == "gpu" and cfg["Slim"]["ptq"]["algo"] == "hist"


def test_image_is_required_in_one_line(tmp_path):
    proc = run_cli("k8s", "render", "--stage", "qat", "--nnodes", "2", "-c", CONFIGS["qat"])
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --image: required")
    assert len(proc.stderr.strip().splitlines()) == 1
    make = subprocess.run(["make", "-n", "k8s-render"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "--image= " in make.stdout  # no default tag a cluster could not pull: the CLI refuses the empty one
