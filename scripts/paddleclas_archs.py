"""Build every architecture PaddleClas's own configs name, through ppslim's ``Arch`` (validation + build).

Usage: ``python scripts/paddleclas_archs.py /path/to/PaddleClas [--class-num 10] [--json out.json]``

Reads every YAML under ``ppcls/configs/ImageNet`` and ``ppcls/configs/slim``, takes its ``Arch``
section (and each ``DistillationModel`` member), validates it with ``ppslim.config`` exactly as
``ppslim`` would and builds the network (no forward pass). ``--class-num`` replaces every
``class_num`` to keep the heads small. Prints one line per distinct architecture that fails and a
summary ``built N of M distinct architectures``; exit code 1 when any fails.
"""
from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppslim import config, models  # noqa: E402


def arch_sections(root: str):
    """(config path, Global.device, Arch mapping) for every config under ImageNet/ and slim/."""
    for sub in ("ImageNet", "slim"):
        for path in sorted(glob.glob(os.path.join(root, "ppcls", "configs", sub, "**", "*.yaml"), recursive=True)):
            data = config.read_yaml(path)  # ppslim's reader: 1e-6 is a number, as PaddleClas means it
            if isinstance(data, dict) and isinstance(data.get("Arch"), dict):
                yield path, (data.get("Global") or {}).get("device", "cpu"), data["Arch"]


def with_class_num(arch: dict, class_num) -> dict:
    out = dict(arch)
    if class_num is not None and "class_num" in out:
        out["class_num"] = class_num
    if isinstance(out.get("models"), list):
        out["models"] = [{k: with_class_num(v, class_num) for k, v in m.items()} if isinstance(m, dict) else m
                         for m in out["models"]]
    return out


def names_in(arch: dict) -> list:
    names = [arch.get("name")]
    for member in arch.get("models") or []:
        for sub in (member or {}).values():
            if isinstance(sub, dict):
                names.append(sub.get("name"))
    return names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paddleclas", help="a PaddleClas checkout (holds ppcls/configs)")
    ap.add_argument("--class-num", type=int, default=None, help="replace every class_num (smaller heads)")
    ap.add_argument("--json", default=None, help="write the per-config results here")
    args = ap.parse_args(argv)

    named, failures, results = set(), {}, []
    built_ok = set()
    t0 = time.time()
    sections = list(arch_sections(args.paddleclas))
    for path, device, arch in sections:
        rel = os.path.relpath(path, args.paddleclas)
        names = [n for n in names_in(arch) if n]
        named.update(names)
        try:
            cfg = config.from_dict({"Global": {"device": device}, "Arch": with_class_num(arch, args.class_num)})
            model = models.build_model(cfg.Arch)
            params = models.count_params(model)
            del model
            gc.collect()
            built_ok.update(names)
            results.append({"config": rel, "names": names, "ok": True, "params": params})
        except Exception as e:  # noqa: BLE001 - report every failure (ConfigError or a PaddleClas bug), keep going
            line = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            results.append({"config": rel, "names": names, "ok": False, "error": line})
            for n in names:
                failures.setdefault(n, (rel, line))
            print(f"FAIL {rel} [{', '.join(names)}]: {line}", flush=True)
    failed = {n: f for n, f in failures.items() if n not in built_ok}
    ok_configs = sum(r["ok"] for r in results)
    print(f"configs: {ok_configs} of {len(results)} build ({len(sections)} with an Arch section)")
    print(f"built {len(named) - len(failed)} of {len(named)} distinct architectures "
          f"({time.time() - t0:.0f}s); not built: {sorted(failed)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"distinct": len(named), "built": len(named) - len(failed), "failed": failed,
                       "configs": results}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
