"""The built image, through the SDK runner: labels, non-root user, and real stages on the digits data.

Needs a Docker engine (``DOCKER_HOST``) and the image ``PPSLIM_TEST_IMAGE`` (default ``ppslim:cpu``,
from ``make image TARGET=cpu``); skipped with the reason when either is missing.
"""
from __future__ import annotations

import hashlib
import os
import shutil

import docker
import pytest

from ppslim import container
from ppslim.container import PpslimError, Runtime

pytestmark = pytest.mark.docker

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ.get("PPSLIM_TEST_IMAGE", "ppslim:cpu")
USER = 1000  # not root, not the image's default-less uid 0: outputs must come back owned by the caller


@pytest.fixture(scope="module")
def client():
    try:
        engine = container.connect(timeout=5)
    except PpslimError as e:
        pytest.skip(str(e))
    try:
        engine.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"image {IMAGE} is not built (make image TARGET=cpu)")
    return engine


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_image_metadata(client):
    attrs = client.images.get(IMAGE).attrs["Config"]
    assert attrs["Entrypoint"] == ["ppslim"]
    assert attrs["User"] == "1000:1000" and attrs["WorkingDir"] == "/workspace"
    assert attrs["Labels"]["org.opencontainers.image.revision"] != "unknown"
    if attrs["Labels"].get("org.opencontainers.image.variant") == "cpu":
        assert attrs["Labels"]["io.ppslim.lock.sha256"] == sha256(os.path.join(REPO, "requirements/cpu.lock.txt"))


def test_entrypoint_is_ppslim_without_network(client):
    out = client.containers.run(IMAGE, ["--version"], remove=True, network_mode="none")
    assert out.decode().startswith("ppslim ")


def test_image_carries_paddleclas_zoo_and_serving_runtimes(client):
    """The locked runtimes import inside the image, and a PaddleClas network builds there."""
    code = ("import ppslim, paddle, openvino, nncf, visualdl; "
            "from paddleclas.ppcls.arch.backbone import PPLCNet_x0_25; "
            "m = PPLCNet_x0_25(class_num=3); print('ok', openvino.__version__, len(m.state_dict()))")
    out = client.containers.run(IMAGE, ["-c", code], entrypoint="python", remove=True, network_mode="none",
                                stderr=False)
    assert out.decode().strip().splitlines()[-1].startswith("ok 2026.4.1")


@pytest.fixture
def digits_project(tmp_path, monkeypatch):
    """tmp_path laid out like the repo (configs/digits, dataset/digits), with output parents owned by USER."""
    from ppslim.data.digits import write_digits

    write_digits(str(tmp_path / "dataset" / "digits"))
    shutil.copytree(os.path.join(REPO, "configs", "digits"), tmp_path / "configs" / "digits")
    for name in ("output", "inference"):
        (tmp_path / name).mkdir()
        os.chown(tmp_path / name, USER, USER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "getuid", lambda: USER)
    monkeypatch.setattr(os, "getgid", lambda: USER)
    return tmp_path


def stage(name: str, cfg: str, *overrides: str) -> None:
    result = container.run(name, cfg, list(overrides), runtime=Runtime.DOCKER, image=IMAGE)
    assert (result.runtime, result.exit_code) == ("docker", 0), result


def test_train_export_ptq_eval_in_the_container(client, digits_project):
    stage("train", "configs/digits/train.yaml", "Global.epochs=1", "Global.eval_during_train=false")
    stage("export", "configs/digits/train.yaml")
    stage("ptq", "configs/digits/ptq.yaml")
    ptq_dir = digits_project / "inference" / "digits" / "quant_post_static_model"
    first = {p.name: sha256(str(p)) for p in ptq_dir.glob("inference.*")}
    assert set(first) >= {"inference.pdmodel", "inference.pdiparams"}
    for path in ptq_dir.iterdir():
        assert path.stat().st_uid == USER, f"{path} is owned by uid {path.stat().st_uid}"

    stage("ptq", "configs/digits/ptq.yaml")  # same seed, same data: byte-identical INT8 model
    assert {p.name: sha256(str(p)) for p in ptq_dir.glob("inference.*")} == first
    stage("eval", "configs/digits/ptq.yaml", f"Global.inference_model_dir={ptq_dir}")


def test_failing_stage_exit_code_comes_back(client, digits_project):
    # nothing trained yet: export fails inside the container with ppslim's one-line error, exit 2
    result = container.run("export", "configs/digits/train.yaml", [], runtime=Runtime.DOCKER, image=IMAGE)
    assert result.exit_code == 2
