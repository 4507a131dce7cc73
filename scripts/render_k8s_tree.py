#!/usr/bin/env python3
"""Rewrite the ConfigMap configs of the checked-in kustomize tree (``k8s/*/config.yaml``) from the renderer.

Run after a config key is added (its default lands in every validated config):
``.venv/bin/python scripts/render_k8s_tree.py``. ``tests/unit/test_k8s.py`` checks the tree matches.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from ppslim import k8s  # noqa: E402

# (tree folder, stage, job name, kind): the same four the kustomize test builds
TREES = [("base", "train", "ppslim", "job"), ("overlays/qat", "qat", "ppslim-qat", "job"),
         ("overlays/prune", "prune", "ppslim-prune", "job"), ("kubeflow", "qat", "ppslim-qat", "paddlejob")]


def main() -> None:
    for folder, stage, name, kind in TREES:
        config = f"configs/digits/{stage}.yaml"
        spec = k8s.make_spec(stage, 2, "ppslim:gpu", kind, gpus_per_node=1, name=name)
        objects = k8s.render(spec, k8s.load_config(os.path.join(REPO, config), [], 1))
        [cm] = [o for o in objects if o["kind"] == "ConfigMap"]
        path = os.path.join(REPO, "k8s", folder, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"# {config} as ppslim validated it for 1 GPU per pod (the ConfigMap of the render).\n")
            f.write(cm["data"]["config.yaml"])
        print(f"wrote {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
