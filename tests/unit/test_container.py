"""The docker runner without an engine: arguments, mounts, uid/gid, pip settings and one-line errors."""
from __future__ import annotations

import os
import subprocess

import docker
import pytest

from ppslim import cli, config, container
from ppslim.container import BuildPolicy, Mount, PpslimError, Runtime

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A work dir with a digits-shaped config whose dataset exists and outputs do not yet."""
    data = tmp_path / "dataset" / "digits"
    data.mkdir(parents=True)
    (data / "train_list.txt").write_text("images/0/a.png 0\n")
    (data / "val_list.txt").write_text("images/0/a.png 0\n")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(
        "Global: {output_dir: ./output/digits, save_inference_dir: ./inference/digits}\n"
        "Arch: {name: DigitsNet, class_num: 10}\n"
        "DataLoader:\n"
        "  Train: {dataset: {name: ImageNetDataset, image_root: ./dataset/digits/,"
        " cls_label_path: ./dataset/digits/train_list.txt}}\n"
        "  Eval: {dataset: {name: ImageNetDataset, image_root: ./dataset/digits/,"
        " cls_label_path: ./dataset/digits/val_list.txt}}\n")
    (tmp_path / "configs" / "ptq.yaml").write_text("_BASE_: base.yaml\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spec_for(gpus=(), mounts=(), uid=1234, gid=5678):
    return container.container_spec("ppslim:cpu", "ptq", "configs/ptq.yaml", ["Global.seed=1"], gpus,
                                    list(mounts), "/work", uid, gid, "/work/output/launch_log")


# ------------------------------------------------------------------------------- arguments
def test_parse_gpus():
    assert container.parse_gpus("") == ()
    assert container.parse_gpus(" 0, 1 ") == ("0", "1")
    for bad in ("a", "0,0", "1;2"):
        with pytest.raises(PpslimError, match="GPUS="):
            container.parse_gpus(bad)


def test_cpu_spec_runs_as_host_user_with_writable_home():
    spec = spec_for()
    assert spec["user"] == "1234:5678"
    assert spec["environment"]["HOME"] == "/tmp"
    assert spec["command"][:3] == ["ptq", "-c", os.path.abspath("configs/ptq.yaml")]
    assert spec["command"][3:] == ["-o", "Global.seed=1"]
    assert spec["working_dir"] == "/work" and spec["network_mode"] == "none"
    assert "device_requests" not in spec and "entrypoint" not in spec


def test_one_gpu_requests_that_device_and_keeps_the_entrypoint():
    spec = spec_for(gpus=("3",))
    (request,) = spec["device_requests"]
    assert request["DeviceIDs"] == ["3"] and request["Capabilities"] == [["gpu"]]
    assert "entrypoint" not in spec


def test_several_gpus_run_under_paddle_distributed_launch():
    spec = spec_for(gpus=("2", "5"))
    assert spec["device_requests"][0]["DeviceIDs"] == ["2", "5"]
    assert spec["entrypoint"] == ["python"]
    cmd = spec["command"]
    # inside the container the two requested devices are numbered 0 and 1
    assert cmd[:6] == ["-m", "paddle.distributed.launch", "--gpus", "0,1", "--log_dir", "/work/output/launch_log"]
    assert cmd[6] == "/opt/venv/bin/ppslim" and cmd[7] == "ptq"


def test_mounts_keep_host_paths_and_modes():
    spec = spec_for(mounts=[Mount("/data/digits", True), Mount("/work/output", False)])
    by_target = {m["Target"]: m for m in spec["mounts"]}
    assert by_target["/data/digits"]["Source"] == "/data/digits" and by_target["/data/digits"]["ReadOnly"]
    assert not by_target["/work/output"]["ReadOnly"]


# ------------------------------------------------------------------------------- mounts
def test_plan_mounts_dataset_read_only_output_parents_read_write(project):
    cfg = config.load("configs/ptq.yaml")
    mounts = {m.path: m.read_only for m in container.plan_mounts("configs/ptq.yaml", cfg)}
    assert mounts == {
        str(project / "output"): False,       # parents: stages rename their output folders atomically
        str(project / "inference"): False,
        str(project / "configs"): True,       # the config and its _BASE_
        str(project / "dataset" / "digits"): True,
    }


def test_plan_mounts_missing_dataset_names_the_key(project):
    cfg = config.load("configs/ptq.yaml", ["DataLoader.Eval.dataset.image_root=./nowhere/"])
    with pytest.raises(PpslimError, match=r"^DataLoader\.Eval\.dataset\.image_root: './nowhere/' does not exist"):
        container.plan_mounts("configs/ptq.yaml", cfg)


def test_plan_mounts_checkpoint_prefix_mounts_its_folder(project, tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    (weights / "best_model.pdparams").write_bytes(b"")
    cfg = config.load("configs/ptq.yaml", [f"Global.pretrained_model={weights}/best_model"])
    mounts = container.plan_mounts("configs/ptq.yaml", cfg)
    assert Mount(str(weights), True) in mounts


def test_dedupe_keeps_the_most_permissive_parent():
    mounts = [Mount("/a/b", True), Mount("/a", False), Mount("/a/b/c", False), Mount("/ab", True), Mount("/x", True),
              Mount("/x/y", False)]
    assert container.dedupe(mounts) == [Mount("/a", False), Mount("/x", True), Mount("/ab", True),
                                        Mount("/x/y", False)]


# ------------------------------------------------------------------------------- build inputs
def test_pip_settings_drop_local_indexes_and_constraints_copy_the_ca(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("cert")
    listing = (f":env:.cert='{ca}'\n"
               ":env:.find-links='/opt/wheels'\n"
               ":env:.default-timeout='180'\n"
               "global.default-timeout='60'\n"
               "global.constraint='/etc/xdg/pip/constraints.txt'\n"
               "global.extra-index-url='file:///opt/pypi/simple https://mirror.example/simple'\n")
    text, copies = container.pip_settings(listing, str(tmp_path / "build"))
    assert text == ("[global]\ncert = /build/pip-ca.crt\ndefault-timeout = 180\n"
                    "extra-index-url = https://mirror.example/simple\n")
    assert copies == {str(ca): str(tmp_path / "build" / "pip-ca.crt")}


def test_build_args_label_the_lock_and_pick_the_cuda12_base():
    args = container.build_args("gpu", None, "12", root=REPO)
    assert args["BASE_IMAGE"] == container.CUDA12_BASE_IMAGE and args["PADDLE_CUDA"] == "12"
    assert len(args["LOCK_SHA256"]) == 64
    assert "BASE_IMAGE" not in container.build_args("cpu", None, "11", root=REPO)  # the Dockerfile's pinned default
    with pytest.raises(PpslimError, match="TARGET=gpu"):
        container.build_args("cpu", None, "12", root=REPO)
    with pytest.raises(PpslimError, match="PADDLE_CUDA='13'"):
        container.build_args("gpu", None, "13", root=REPO)


def test_dockerfile_pins_the_cuda_base_by_digest_and_has_no_run_mount():
    with open(os.path.join(REPO, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    assert "ARG BASE_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04@sha256:" in text
    # the SDK's classic builder rejects RUN --mount
    assert not [line for line in text.splitlines() if line.startswith("RUN") and "--mount" in line]
    assert 'ENTRYPOINT ["ppslim"]' in text and "--require-hashes" in text


# ------------------------------------------------------------------------------- engine errors
def test_no_engine_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(PpslimError) as err:
        container.connect(timeout=2)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"no Docker engine answered at unix://{tmp_path}/nothing.sock")
    assert "RUNTIME=local" in message


def test_auto_runtime_falls_back_to_local_and_says_so(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with caplog.at_level("INFO", logger="ppslim.container"):
        assert container.pick_runtime(Runtime.AUTO) == (Runtime.LOCAL, None)
    assert "runtime: local (no Docker engine answered" in caplog.text


class FakeImages:
    def get(self, name):
        raise docker.errors.ImageNotFound(name)


class FakeContainer:
    short_id = id = "c0ffee"

    def __init__(self, status=0, interrupt=False):
        self.status, self.interrupt, self.removed = status, interrupt, False

    def start(self):
        if self.interrupt:
            raise KeyboardInterrupt

    def wait(self):
        return {"StatusCode": self.status}

    def remove(self, force=False):
        self.removed = force


class FakeClient:
    def __init__(self, box):
        self.box = box
        self.images = FakeImages()
        self.containers = self
        self.api = self

    def create(self, **spec):
        return self.box

    def attach(self, *args, **kwargs):
        return iter([(b"out\n", None), (None, b"err\n")])


def test_missing_image_says_how_to_build_it():
    with pytest.raises(PpslimError, match=r"image 'ppslim:cpu' not found on the engine; build it with `make image`"):
        container.ensure_image(FakeClient(FakeContainer()), "ppslim:cpu", BuildPolicy.NEVER, {})


def test_exit_code_is_propagated_and_container_removed(capfd):
    box = FakeContainer(status=3)
    assert container.run_in_docker(FakeClient(box), {}) == 3
    assert box.removed
    out, err = capfd.readouterr()
    assert out == "out\n" and err == "err\n"


def test_ctrl_c_removes_the_container():
    box = FakeContainer(interrupt=True)
    with pytest.raises(SystemExit) as stop:
        container.run_in_docker(FakeClient(box), {})
    assert stop.value.code == 130 and box.removed


def test_cli_propagates_a_failing_stage_exit_code(monkeypatch):
    monkeypatch.setattr(container, "run", lambda *a, **k: container.RunResult("docker", "ptq", "x", 4, 0.1))
    with pytest.raises(SystemExit) as stop:
        cli.main(["container", "run", "ptq", "-c", "whatever.yaml"])
    assert stop.value.code == 4


def test_cli_missing_config_is_one_line_exit_2(capsys):
    assert cli.main(["container", "run", "ptq", "-c", "no/such.yaml", "--runtime", "local"]) == 2
    assert capsys.readouterr().err.strip() == "error: -c: config file not found: no/such.yaml"


# ------------------------------------------------------------------------------- make
def test_make_stage_targets_call_the_runner():
    out = subprocess.run(["make", "-n", "ptq", "GPUS=0,1", "RUNTIME=docker", 'O=Global.seed=3'], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert "-m ppslim container run ptq -c configs/digits/ptq.yaml -o Global.seed=3" in out
    assert '--gpus "0,1" --runtime docker' in out and "--image ppslim:gpu --target gpu" in out
    out = subprocess.run(["make", "-n", "export", "CONFIG=x.yaml"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert "container run export -c x.yaml" in out and "--runtime auto" in out and "ppslim:cpu" in out


def test_engine_refusing_a_gpu_request_is_one_line():
    class NoGpuContainer(FakeContainer):
        def start(self):
            raise docker.errors.APIError("500", explanation='could not select device driver "" with capabilities: [[gpu]]')

    box = NoGpuContainer()
    with pytest.raises(PpslimError, match=r"^docker could not start the container: could not select device driver"):
        container.run_in_docker(FakeClient(box), {})
    assert box.removed
