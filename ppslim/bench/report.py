"""``ppslim bench`` output: the issue's targets checked against measured numbers, Markdown tables, the plot.

Everything here works on the plain-data report (what ``results.json`` holds), so the Markdown and the
plot can be regenerated from a saved JSON and tested without running a benchmark.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from typing import Callable, Optional

from .. import artifacts, reporting
from ..compress.ptq_search import Gate

RESULTS_JSON, RESULTS_MD, PLOT_PNG = "results.json", "results.md", "accuracy_vs_latency.png"


# ------------------------------------------------------------------------------- machine
def cpu_name() -> str:
    from ..serve.cpu import cpu_name as name

    return name()


def cpu_flags() -> set:
    from ..serve.cpu import cpu_flags as flags

    return set(flags())


def git_commit(repo_dir: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", repo_dir, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", repo_dir, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out.stdout.strip() + ("+uncommitted" if dirty else "")


def _version(dist: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info(threads: int) -> dict:
    flags = cpu_flags()
    from ..serve.cpu import features

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads, **features(flags).as_dict(),
            "paddle": _version("paddlepaddle"), "paddleslim": _version("paddleslim"),
            "openvino": _version("openvino"), "nncf": _version("nncf"), "python": platform.python_version(),
            "commit": git_commit(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ------------------------------------------------------------------------------- targets
def _row(rows, **match) -> Optional[dict]:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _speedup(row: Optional[dict], batch: int) -> Optional[float]:
    return None if row is None else row["speedup"].get(str(batch))


def fastest_int8(lat: list, model: str, batch, pruned: bool = False) -> Optional[dict]:
    """The fastest verified INT8 row of ``model`` at ``batch`` (any PTQ engine and backend, the peer aside);
    rows without a ``backend`` (older reports) have one INT8 row per artifact."""
    variants = ("pruned_int8", "pruned_nncf_int8") if pruned else ("int8", "nncf_int8")
    rows = [r for r in lat if r["model"] == model and r["variant"] in variants and not r.get("peer")
            and r["latency_ms"].get(str(batch))]
    return min(rows, key=lambda r: r["latency_ms"][str(batch)]["median_ms"]) if rows else None


def _on(row: Optional[dict]) -> str:
    return f" ({row['label']} on {row['backend']})" if row and row.get("backend") else ""


def _target(name: str, required: str, measured, ok: Optional[bool], not_applicable: Optional[str] = None) -> dict:
    """One bar. ``not_applicable`` (why the bar does not hold on this CPU) keeps the measured value and makes
    ``met`` ``None``: neither met nor missed, and never silently passed."""
    out = {"target": name, "required": required, "measured": measured,
           "met": None if ok is None or not_applicable else bool(ok)}
    if not_applicable:
        out["not_applicable"] = not_applicable
    return out


def _features_text(m: dict) -> str:
    return ", ".join(f"{label} {'yes' if m.get(key) else 'no'}" for key, label in
                     (("avx512_vnni", "AVX-512 VNNI"), ("amx", "AMX"), ("avx512_bf16", "AVX-512 BF16")))


def int8_bar_not_applicable(m: dict) -> Optional[str]:
    """Issue 4's INT8 speed-up bars were set on a CPU with AVX-512 VNNI ("the VNNI compute ceiling is 4x"):
    they hold where INT8 dot products run on VNNI or AMX; elsewhere (AVX2: INT8 via 16-bit pair sums, about
    2x FP32) the reason they do not apply, else ``None``."""
    if "avx512_vnni" not in m and "amx" not in m:
        return "not applicable: CPU features not recorded in this report"
    return None if m.get("avx512_vnni") or m.get("amx") else "not applicable on this CPU (no VNNI)"


def _ge(value, bar) -> Optional[bool]:
    return None if value is None else value >= bar


def check_targets(report: dict) -> list[dict]:
    """The issue's bars, each with the measured value and met / missed / not measured (``None``)."""
    lat = report["latency"]
    acc = [r for r in report["accuracy"] if r.get("group", "digits") == "digits"]
    out = []
    r50_fp32 = _row(lat, model="resnet50", variant="fp32")
    r50_pruned = _row(lat, model="resnet50", variant="pruned_fp32")
    m = report.get("machine", {})
    vnni_na = int8_bar_not_applicable(m)
    on_cpu = f" on AVX-512 VNNI or AMX ({_features_text(m)})"
    for batch, bar in ((1, 2.8), (16, 3.5)):
        r = fastest_int8(lat, "resnet50", batch)
        s = _speedup(r, batch)
        out.append(_target(f"resnet50 INT8 speed-up, batch {batch}", f">= {bar}x{on_cpu}" + _on(r), s, _ge(s, bar),
                           vnni_na if s is not None else None))
    r = fastest_int8(lat, "resnet50", 16, pruned=True)
    s = _speedup(r, 16)
    out.append(_target("resnet50 FPGM-0.3 + INT8 speed-up, batch 16", f">= 5.0x{on_cpu}" + _on(r), s, _ge(s, 5.0),
                       vnni_na if s is not None else None))
    r50_int8 = fastest_int8(lat, "resnet50", max(report["settings"]["batch_sizes"]))
    mbv3_int8 = fastest_int8(lat, "mobilenet_v3_large", 16)
    int8_rows = [r for r in lat if r["precision"] == "INT8" and not r.get("peer")]
    all_verified = all(r.get("agreement") and r["agreement"].get("verified") for r in int8_rows)
    st = report["settings"]
    out.append(_target("every timed INT8 model verified against its FP32 source first",
                       f"cosine >= {st['verify_int8_min_cosine']} and top-1 agreement >= "
                       f"{st.get('latency_min_top1_agreement') if st.get('latency_min_top1_agreement') is not None else st['verify_int8_min_top1_agreement']} on real images",
                       f"{sum(bool(r.get('agreement') and r['agreement'].get('verified')) for r in int8_rows)}"
                       f"/{len(int8_rows)}", all_verified if int8_rows else None))
    s = _speedup(mbv3_int8, 16)
    ok = None if mbv3_int8 is None else bool(mbv3_int8["agreement"].get("verified")) and _ge(s, 1.5)
    out.append(_target("mobilenet_v3_large INT8 correct and faster, batch 16", "verified, >= 1.5x", s, ok))
    if r50_int8 and r50_fp32:
        ratio = round(r50_int8["params_bytes"] / r50_fp32["params_bytes"], 4)
        out.append(_target("resnet50 INT8 params file vs FP32", "<= 0.27", ratio, ratio <= 0.27))
    if r50_pruned:
        red = r50_pruned["flops_reduction"]
        out.append(_target("resnet50 FPGM-0.3 FLOPs reduction", ">= 0.45", red, _ge(red, 0.45)))
        for batch in report["settings"]["batch_sizes"]:
            s = _speedup(r50_pruned, batch)
            cut = None if s is None else round(1 - 1 / s, 3)
            out.append(_target(f"resnet50 FPGM-0.3 latency reduction, batch {batch}", ">= 0.35", cut, _ge(cut, 0.35)))
    qat = [r for r in acc if r["variant"] == "qat"]
    if qat:
        d = qat[0]["delta_pt"]
        out.append(_target("digits QAT top-1 vs FP32", ">= -0.3 pt", d, d >= -0.3))
    ptq = [r["delta_pt"] for r in acc if r["variant"].startswith("ptq_") and r["delta_pt"] is not None]
    if ptq:
        out.append(_target("digits best PTQ top-1 vs FP32", ">= -0.5 pt", max(ptq), max(ptq) >= -0.5))
    oh = report.get("overhead")
    if oh:
        out.append(_target(f"`ppslim ptq` wall time / direct quant_post_static ({oh['model']}, {oh['algo']})",
                           "<= 1.10", oh["ratio"], oh["ratio"] <= 1.10))
    return out + serving_targets(report) + search_targets(report)


def _median(row: dict, batch) -> Optional[float]:
    lat = row["latency_ms"].get(str(batch))
    return None if not lat else lat["median_ms"]


def serving_targets(report: dict) -> list[dict]:
    """The serving issue's bars: ppslim's fastest INT8 against the OpenVINO + NNCF peer, FP32 and BF16 served
    against Paddle oneDNN FP32, top-1 kept by every served row of the trained models, and ``auto``'s pick."""
    lat, st, m = report["latency"], report["settings"], report["machine"]
    if not any("backend" in r for r in lat):
        return []
    out = []
    batches = st["batch_sizes"]
    served = [r for r in lat if not r.get("peer")]
    peer = _row(lat, model="resnet50", variant="peer_nncf")
    for b in batches:
        best = fastest_int8(served, "resnet50", b)
        p = _median(peer, b) if peer else None
        ratio = round(p / _median(best, b), 3) if best and p else None
        out.append(_target(f"resnet50 fastest verified INT8 vs OpenVINO + NNCF INT8 peer (latency ratio peer / "
                           f"ppslim), batch {b}", ">= 1.0" + _on(best), ratio, _ge(ratio, 1.0)))
    for model in sorted({r["model"] for r in served}):
        fp32 = [r for r in served if r["model"] == model and r["variant"] == "fp32"]
        for b in batches:
            others = [(r["speedup"].get(str(b)), r) for r in fp32 if r["compute"] == "fp32"
                      and r["backend"] != "paddle-cpu-onednn" and r["speedup"].get(str(b))]
            best = max(others, key=lambda x: x[0]) if others else None
            faster = best is not None and best[0] > 1.0
            out.append(_target(f"{model} FP32 served vs Paddle oneDNN FP32, batch {b}",
                               ">= 1.15x wherever another backend is faster" + (f" ({best[1]['backend']})" if best
                                                                                 else ""),
                               best[0] if best else None, _ge(best[0], 1.15) if faster else None))
    bf16 = [r["speedup"].get(str(max(batches))) for r in served if r["model"] == "resnet50" and r["variant"] == "fp32"
            and r["compute"] == "bf16" and r["speedup"].get(str(max(batches)))]
    best_bf16 = max(bf16) if bf16 else None
    out.append(_target(f"resnet50 BF16 vs FP32 on AMX, batch {max(batches)}", f">= 3.5x ({_features_text(m)})",
                       best_bf16, _ge(best_bf16, 3.5),
                       None if m.get("amx") or best_bf16 is None else "not applicable on this CPU (no AMX)"))
    scored = [r for r in served if r.get("top1") is not None and r["compute"] in ("bf16", "int8")]
    if scored:
        bars = {"bf16": st.get("max_bf16_drop_pt", 0.1), "int8": st.get("max_int8_drop_pt", 0.5)}
        ok = [r for r in scored if r["delta_pt"] is not None and r["delta_pt"] >= -bars[r["compute"]]]
        refused = report.get("serving_refused", [])
        fp32_top1 = ", ".join(f"{r['model']} {100 * r['top1']:.2f}%" for r in served
                              if r["variant"] == "fp32" and r["backend"] == "paddle-cpu-onednn")
        out.append(_target("trained latency models keep top-1 on every served artifact and backend",
                           f"BF16 within {bars['bf16']} pt, INT8 within {bars['int8']} pt of FP32; misses refused",
                           f"{len(ok)}/{len(scored)} served rows ({len(refused)} refused; FP32 {fp32_top1})",
                           len(ok) == len(scored)))
    picks = report.get("picks") or []
    if picks:
        same = sum(p["auto"] == p["pick"] for p in picks)
        out.append(_target("`inference_backend: auto` serves the backend bench measured fastest", "every artifact",
                           f"{same}/{len(picks)}", same == len(picks)))
    return out


# ------------------------------------------------------------------------------- compression that searches
# PTQ rows that are not one fixed PaddleSlim algorithm: the search itself, and NNCF (another engine).
NOT_FIXED_PTQ = ("ptq_auto", "ptq_nncf")


def _search_row(model: str, fixed: dict, auto_top1: Optional[float], search: Optional[dict],
                fp32_top1: Optional[float]) -> dict:
    scored = {a: t for a, t in fixed.items() if t is not None}
    best = max(scored, key=lambda a: scored[a]) if scored else None
    return {"model": model, "fp32_top1": fp32_top1, "fixed": fixed, "best_fixed_algo": best,
            "best_fixed_top1": scored.get(best), "auto_top1": auto_top1,
            "auto_pick": (search or {}).get("pick"), "candidates": (search or {}).get("tried"),
            "seconds": (search or {}).get("wall_s"), "table": (search or {}).get("candidates"),
            "gate": (search or {}).get("gate"),
            "delta_pt": None if auto_top1 is None or best is None else round(100 * (auto_top1 - scored[best]), 2)}


def ptq_search_rows(report: dict) -> list[dict]:
    """Per benchmarked model: each fixed PTQ algorithm's top-1 on the val split, auto PTQ's, and its search."""
    rows = []
    acc = report["accuracy"]
    for group in dict.fromkeys(r.get("group", "digits") for r in acc):
        grp = [r for r in acc if r.get("group", "digits") == group]
        auto = _row(grp, variant="ptq_auto")
        if auto is None:
            continue
        fixed = {r["artifact"].split()[-1]: r["top1"] for r in grp
                 if r["variant"].startswith("ptq_") and r["variant"] not in NOT_FIXED_PTQ}
        rows.append(_search_row(group, fixed, auto["top1"], (auto.get("extra") or {}).get("search"), grp[0]["top1"]))
    lat = report["latency"]
    for model in dict.fromkeys(r["model"] for r in lat):
        compared = next((r["ptq_compared"] for r in lat if r["model"] == model and r.get("ptq_compared")), None)
        if not compared:
            continue
        fixed = {c["algo"]: c["top1"] for c in compared if c["algo"] != "auto"}
        auto = next(c for c in compared if c["algo"] == "auto")
        fp32 = _row(lat, model=model, variant="fp32", backend="paddle-cpu-onednn")
        rows.append(_search_row(model, fixed, auto["top1"], auto.get("search"), fp32 and fp32.get("top1")))
    return rows


def _by_seed(rows: list, variant: str) -> dict:
    """``variant``'s QAT rows by seed: the first seed's row is named ``variant``, the others ``variant_s<seed>``."""
    return {(r.get("extra") or {}).get("seed"): r["top1"] for r in rows
            if re.fullmatch(rf"{variant}(_s\d+)?", r["variant"])}


def qat_distill_target(hard: list) -> Optional[dict]:
    """Distillation QAT over plain QAT at equal epochs: the difference of their mean top-1 over the seeds both
    ran (``Bench.search.qat_seeds``); a refused export at any seed is a miss, not a dropped seed."""
    plain, distill = _by_seed(hard, "qat"), _by_seed(hard, "qat_distill")
    seeds = sorted(set(plain) & set(distill))
    if not seeds:
        return None
    name = "digits_hard QAT + distillation vs plain QAT, equal epochs (pt, mean over seeds)"
    refused = [s for s in seeds if plain[s] is None or distill[s] is None]
    if refused:
        return _target(name, "> 0", f"refused at seed {', '.join(map(str, refused))}", False)
    gains = [100 * (distill[s] - plain[s]) for s in seeds]
    margin = round(sum(gains) / len(gains), 2)
    detail = ", ".join(f"{s}: {g:+.2f}" for s, g in zip(seeds, gains))
    return _target(name, f"> 0 (the mean of {len(seeds)} seed(s); per seed {detail})", margin, margin > 0)


def search_targets(report: dict) -> list[dict]:
    """Issue 11's bars: auto PTQ against the best fixed algorithm on every model (and never refused where one
    passes), mobilenet_v3_large's auto INT8 within 1 pt of FP32, distillation QAT over plain QAT, sensitivity-guided
    over uniform pruning at equal FLOPs."""
    out = []
    for r in ptq_search_rows(report):
        best = (f"{r['best_fixed_algo']} {100 * r['best_fixed_top1']:.2f}%" if r["best_fixed_algo"]
                else "every fixed algorithm refused")
        if r["best_fixed_algo"] is None:  # every fixed algorithm refused: auto verified is a rescue, else moot
            ok = True if r["auto_top1"] is not None else None
        else:
            ok = r["auto_top1"] is not None and r["delta_pt"] >= 0
        out.append(_target(f"{r['model']} auto PTQ top-1 vs the best fixed algorithm (pt)",
                           f">= 0, never refused where a fixed one passes (best fixed: {best})",
                           r["delta_pt"] if r["auto_top1"] is not None else "refused", ok))
        if r["model"] == "mobilenet_v3_large":
            drop = None if r["auto_top1"] is None or r["fp32_top1"] is None else \
                round(100 * (r["fp32_top1"] - r["auto_top1"]), 2)
            out.append(_target("mobilenet_v3_large auto PTQ: verified INT8 within 1 pt of FP32 (drop, pt)", "<= 1.0",
                               drop, None if drop is None else drop <= 1.0))
    hard = [r for r in report["accuracy"] if r.get("group") == "digits_hard"]
    distill_target = qat_distill_target(hard)
    if distill_target:
        out.append(distill_target)
    uniform, guided = _row(hard, variant="pruned_uniform"), _row(hard, variant="pruned_sensitivity")
    if uniform and guided and uniform["top1"] is not None and guided["top1"] is not None:
        reductions = [(r.get("extra") or {}).get("flops_reduction") for r in (uniform, guided)]
        margin = round(100 * (guided["top1"] - uniform["top1"]), 2)
        equal = None not in reductions and min(reductions) >= 0.45 and abs(reductions[0] - reductions[1]) <= 0.02
        out.append(_target("digits_hard sensitivity-guided vs uniform FPGM top-1 at equal FLOPs reduction (pt)",
                           f">= 0, both >= 45% (FLOPs -{100 * reductions[0]:.1f}% / -{100 * reductions[1]:.1f}%)"
                           if None not in reductions else ">= 0, both >= 45%", margin, equal and margin >= 0))
    return out


def pareto_front(points: list[tuple[float, float]]) -> set[int]:
    """Indices of the points no other point beats on both axes (lower latency, higher top-1)."""
    front, best = set(), float("-inf")
    for i in sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1])):
        if points[i][1] > best:
            front.add(i)
            best = points[i][1]
    return front


# ------------------------------------------------------------------------------- evidence
def program_summary(program: dict) -> str:
    if "compute_ops" not in program:
        return program.get("note", "-")
    kinds = ", ".join(f"{n} {k.replace(':', ' ')}" for k, n in program["compute_ops"].items())
    return (f"{kinds}; {program['quantize']} quantize, {program['dequantize']} dequantize, "
            f"{program['requantize']} requantize ops; {program['ops']} ops in all")


def overhead_breakdown(report: dict) -> Optional[str]:
    """What ``ppslim ptq`` adds over the bare call, with the parts this run measured separately."""
    oh = report.get("overhead")
    if not oh:
        return None
    rows = {r["variant"]: r for r in report["latency"] if r["model"] == oh["model"]}
    # the latency rows' costs were measured at the serving resolution; an overhead run at another size has none
    fp32, int8 = (None, None) if oh.get("image_size") else (rows.get(v, {}).get("costs") for v in ("fp32", "int8"))
    runs = len(oh.get("ppslim_runs_s", [])) or 1
    extra = (oh["ppslim_s"] - oh["direct_s"]) / runs
    text = (f"Per run, `ppslim ptq` took {extra:+.1f} s against the bare call (direct runs "
            f"{', '.join(f'{t:.1f}' for t in oh.get('direct_runs_s', []))} s; ppslim runs "
            f"{', '.join(f'{t:.1f}' for t in oh.get('ppslim_runs_s', []))} s).")
    if fp32 and int8:
        reference = sum(fp32.values())
        cold = (oh["ppslim_s"] + runs * reference) / oh["direct_s"]
        text += (f" Timed separately in this run with the same predictor types: the INT8 check (oneDNN INT8 "
                 f"predictor with its quantization passes {int8['create_predictor_s']:.1f} s + inference "
                 f"{int8['predict_verify_images_s']:.1f} s on {oh['verify_images']} images) = "
                 f"{sum(int8.values()):.1f} s, which every run pays. The FP32 reference on the same images "
                 f"(oneDNN predictor {fp32['create_predictor_s']:.1f} s + inference "
                 f"{fp32['predict_verify_images_s']:.1f} s) = {reference:.1f} s is not paid here: `ppslim export` "
                 f"stored those outputs beside the model. For a model ppslim did not export it is computed, "
                 f"which would make the ratio about {cold:.2f}.")
    return text


def evidence(report: dict) -> list[str]:
    """One line per missed target with what this run measured that explains it."""
    notes = []
    noise = report.get("noise", {})
    lat = report["latency"]
    for t in report["targets"]:
        if t["met"] is not False:
            continue
        name = t["target"]
        line = f"**{name}**: measured {reporting.fmt(t['measured'])}, required {t['required']}."
        if "speed-up" in name or "latency" in name:
            batch = name.rsplit("batch ", 1)[-1]
            n = noise.get(batch)
            if n:
                line += (f" During the batch-{batch} rounds other processes used {n['other_cpu_share']:.2f} of a core "
                         f"on average ({n['disturbed_rounds']}/{n['rounds']} rounds above {n['busy_share']:.2f}), "
                         f"on a {report['machine']['cores']}-core machine timed with {report['machine']['threads']} "
                         "threads.")
            int8 = [r for r in lat if r["precision"] == "INT8" and r.get("onednn_program") and r["model"] in name]
            for r in int8:
                line += f" {r['label']} ran: {program_summary(r['onednn_program'])}."
        if "ppslim ptq" in name:
            line += " " + (overhead_breakdown(report) or "")
        notes.append(line)
    return notes


# ------------------------------------------------------------------------------- markdown
def _ms(lat: Optional[dict]) -> str:
    if not lat:
        return "-"
    return f"{lat['median_ms']:.2f} ({lat['p25_ms']:.2f}–{lat['p75_ms']:.2f})"


def _num(v, spec: str) -> str:
    return "-" if v is None else spec.format(v)


def _mb(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}"


def _x(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _agree(a: Optional[dict]) -> str:
    if not a:
        return "-"
    if "cosine" not in a:
        return f"not verified: {a.get('reason', '?')}"
    text = f"{a['cosine']:.4f} / {a['top1_agreement']:.2f}"
    if a.get("centered_cosine") is not None:
        text += f" / {a['centered_cosine']:.3f}"
    return text


def _table(rows: list[dict], columns: list[tuple[str, Callable[[dict], object]]]) -> str:
    flat = [{h: f(r) for h, f in columns} for r in rows]
    return reporting.markdown_table(flat, [(h, h) for h, _ in columns])


def render_markdown(report: dict) -> str:
    m, s = report["machine"], report["settings"]
    batches = s["batch_sizes"]
    lines = [
        "# ppslim bench",
        "",
        f"Measured by `make bench` ({report['seconds']:.0f} s) on {m['cpu']}, {m['cores']} cores "
        f"(AVX-512 VNNI: {'yes' if m['avx512_vnni'] else 'no'}, AMX: {'yes' if m['amx'] else 'no'}), "
        f"{m['threads']} threads, Paddle {m['paddle']}, PaddleSlim {m['paddleslim']}, commit "
        f"`{m['commit'] or 'unknown'}`, {m['date']}; OpenVINO {m.get('openvino')}, NNCF {m.get('nncf')}; AVX-512 "
        f"BF16: {'yes' if m.get('avx512_bf16') else 'no'}. Digits rows run on `Global.inference_backend: auto` "
        "(Paddle oneDNN FP32, oneDNN INT8 for PaddleSlim INT8, OpenVINO for the NNCF IR); the latency models run "
        "on every backend.",
        "",
        f"Latency: milliseconds per forward pass of a batch, median (p25–p75) of {s['repeats']} timed rounds after "
        f"{s['warmup']} warm-up runs; all variants of one batch size run interleaved in the same rounds in one "
        "process; speed-ups are FP32 median / variant median from the same rounds.",
        "",
        f"![top-1 and output agreement vs latency, one point per artifact]({PLOT_PNG})",
        "",
        "### Targets",
        "",
        _table(report["targets"], [
            ("target", lambda r: r["target"]), ("required", lambda r: r["required"]),
            ("measured", lambda r: reporting.fmt(r["measured"])),
            ("", lambda r: r.get("not_applicable")
             or {True: "met", False: "**MISSED**", None: "not measured"}[r["met"]])]),
    ]
    notes = report.get("notes") or []
    if notes:
        lines += ["Evidence for missed targets and refusals:", ""] + [f"- {n}" for n in notes] + [""]
    groups = {g: [r for r in report["accuracy"] if r.get("group", "digits") == g]
              for g in dict.fromkeys(r.get("group", "digits") for r in report["accuracy"])}
    lines += ["### Accuracy: digits (DigitsNet, 3x32x32, val split)", "",
              _accuracy_table(groups.get("digits", []), batches)]
    if groups.get("digits_hard"):
        hard = groups["digits_hard"]
        images = hard[0].get("images")
        resolution = f", 1 val image = {100 / images:.3f} pt" if images else ""
        spread = max([abs(r["delta_pt"]) for r in groups.get("digits", []) if r["delta_pt"] is not None] or [0.0])
        lines += [
            "",
            "### Compression that finds its own best: the unsaturated setting",
            "",
            f"On the digits default (above) the compressed rows differ from FP32 by at most {spread:.2f} pt, too "
            "little to tell strategies apart. Here the "
            f"same real digits are split harder (449 train / {images or '-'} val images{resolution}) and "
            f"{hard[0]['artifact'].split(' FP32')[0]} at 32x32 reaches {_num(hard[0]['top1'], '{:.4f}')} in FP32. "
            "Each searching method runs beside the fixed recipe it must beat, from the same cached FP32 checkpoint: "
            "PTQ per fixed algorithm and `Slim.ptq.algo: auto` (calibrated on the Train split, candidates scored on "
            "a held-out part of it, never on this val split); QAT with and without `Slim.quant.distill` (equal "
            "epochs and schedule); uniform FPGM and sensitivity-guided ratios (`Slim.prune.pruned_ratio: auto`) at "
            "the same FLOPs target, fine-tuned alike. ◆ = on the Pareto front (top-1 vs latency at batch "
            f"{max(batches)}).",
        ]
        lines += ["", _accuracy_table(hard, batches)]
    searches = ptq_search_rows(report)
    if searches:
        lines += ["", "### PTQ search (`Slim.ptq.algo: auto`) against every fixed algorithm", "",
                  "Top-1 on each model's val split with its deploy backend; auto's candidates were scored on a "
                  "held-out part of the Train split only.", "",
                  _table(searches, [
                      ("model", lambda r: r["model"]), ("FP32", lambda r: _num(r["fp32_top1"], "{:.4f}")),
                      ("fixed algorithms (top-1)", lambda r: ", ".join(
                          f"{a} {_num(t, '{:.4f}') if t is not None else 'refused'}" for a, t in r["fixed"].items())),
                      ("best fixed", lambda r: f"{r['best_fixed_algo']} {_num(r['best_fixed_top1'], '{:.4f}')}"
                       if r["best_fixed_algo"] else "none verified"),
                      ("auto", lambda r: _num(r["auto_top1"], "{:.4f}") if r["auto_top1"] is not None else "refused"),
                      ("auto vs best fixed (pt)", lambda r: _num(r["delta_pt"], "{:+.2f}")),
                      ("auto's pick", lambda r: r["auto_pick"] or "-"),
                      ("candidates", lambda r: reporting.fmt(r["candidates"])),
                      ("search wall time (s)", lambda r: _num(r["seconds"], "{:.0f}"))])]
        for r in searches:
            lines += search_details(r)
    lat = report["latency"]
    if lat and any("backend" in r for r in lat):
        lines += [
            f"### Latency: standard architectures at 3x{s['image_size']}x{s['image_size']}, every backend "
            f"({s['class_num']} classes, trained on the digits)",
            "",
            f"Each network is trained once (cached) on the digits train split at their own 32x32 for "
            f"{s.get('latency_train_epochs')} epochs (pruned copies: FPGM, then {s.get('latency_finetune_epochs')} "
            "fine-tuning epochs), exported with any input size, scored (top-1, and the output agreement vs its "
            f"FP32 source on Paddle oneDNN) on the digits at 32x32 and timed at {s['image_size']}x{s['image_size']}. "
            "Every artifact runs on every backend that applies on this CPU; a backend whose outputs disagree or "
            f"whose top-1 falls more than {s.get('max_bf16_drop_pt')} pt (FP32/BF16) or "
            f"{s.get('max_int8_drop_pt')} pt (INT8) below the FP32 artifact on Paddle oneDNN is refused, not timed. "
            "★ = fastest verified row of the model at that batch size (pruned copies aside); "
            "**pick** = what bench recorded in the artifact's `result.json`, which "
            "`Global.inference_backend: auto` serves with on a CPU with the same features. The peer row is "
            "OpenVINO + NNCF as a user writes them (same calibration images, OpenVINO's default compile).",
            "",
            _table(lat, [
                ("model", lambda r: r["model"]), ("artifact", lambda r: r["label"]),
                ("backend", lambda r: r["backend"] + (" **pick**" if r.get("picked") else "")),
                ("top-1", lambda r: _num(r.get("top1"), "{:.4f}")),
                ("Δ top-1 (pt)", lambda r: _num(r.get("delta_pt"), "{:+.2f}")),
                ("params file (MB)", lambda r: _mb(r["params_bytes"])),
                ("GFLOPs", lambda r: f"{r['flops'] / 1e9:.2f}"),
                ("vs FP32", lambda r: _agree(r.get("agreement"))),
                *[col for b in batches for col in (
                    (f"b{b} ms", lambda r, b=b: _ms(r["latency_ms"].get(str(b))) +
                     (" ★" if str(b) in r.get("fastest", []) else "")),
                    (f"b{b} speed-up", lambda r, b=b: _x(r["speedup"].get(str(b)))))]]),
            "",
            "vs FP32 = cosine of the logits / top-1 agreement / cosine after removing the mean logit vector, on "
            f"{next((r['agreement']['images'] for r in lat if r.get('agreement')), '-')} real images; speed-ups "
            "against the FP32 artifact on Paddle oneDNN in the same rounds.",
            "",
        ]
        picks = report.get("picks") or []
        if picks:
            lines += [f"Backend picked per artifact (CPU features it depended on: AVX-512 VNNI "
                      f"{'yes' if m.get('avx512_vnni') else 'no'}, AMX {'yes' if m.get('amx') else 'no'}, "
                      f"AVX-512 BF16 {'yes' if m.get('avx512_bf16') else 'no'}):", "",
                      _table(picks, [("artifact", lambda r: r["artifact"]),
                                     ("backends timed", lambda r: r["candidates"]),
                                     *[(f"fastest b{b}", lambda r, b=b: r["fastest"].get(str(b), "-"))
                                       for b in batches],
                                     ("pick", lambda r: r["pick"]), ("`auto` serves", lambda r: r["auto"])]), ""]
        refused_serving = report.get("serving_refused") or []
        if refused_serving:
            lines += ["Backends refused for an artifact (not timed):", ""]
            lines += [f"- {x['artifact']} on {x['backend']}: {x['reason']}" for x in refused_serving] + [""]
        programs = [r for r in lat if r.get("onednn_program")]
        if programs:
            lines += ["What oneDNN INT8 ran (ops of the optimized program Paddle saved after its IR passes):", ""]
            lines += [f"- {r['model']} {r['label']}: {program_summary(r['onednn_program'])}" for r in programs]
            lines += [""]
        refused = list({(r.get("artifact", r["model"]), x["algo"]): (r.get("artifact", r["model"]), x)
                        for r in lat for x in r.get("refused", [])}.values())
        if refused:
            lines += ["PTQ attempts refused by verification (not timed):", ""]
            lines += [f"- {model} `{x['algo']}`: {x['reason']}" for model, x in refused] + [""]
        noise = report.get("noise", {})
        if noise and max(n["other_cpu_share"] for n in noise.values()) > 0.25:
            lines += ["Other processes shared this machine during the run (below), so absolute milliseconds are "
                      "higher than on an idle machine; the speed-ups compare variants timed in the same rounds and "
                      "are what to read.", ""]
        if noise:
            lines += ["Machine noise during the timed rounds (other processes' CPU, share of one core): " + ", ".join(
                f"batch {b}: mean {n['other_cpu_share']:.2f}, {n['disturbed_rounds']}/{n['rounds']} rounds above "
                f"{n['busy_share']:.2f}" for b, n in noise.items()) + ".", ""]
    oh = report.get("overhead")
    if oh:
        lines += [
            "### Toolchain overhead",
            "",
            f"`ppslim ptq` (whole stage: reads the model, checks the calibration images fit its input, takes the "
            f"FP32 outputs on {oh['verify_images']} real images that `ppslim export` stored beside the model, "
            f"calibration, save, INT8 verification) against calling "
            f"`paddleslim.quant.quant_post_static` directly (executor + the same DataLoader + the call) on "
            f"{oh['model']} with `{oh['algo']}` and the same {oh['calib_images']} calibration images"
            + (f" at {oh['image_size']}x{oh['image_size']} (the trained network exported for that size)"
               if oh.get("image_size") else "") + "; "
            f"{len(oh.get('ppslim_runs_s', [])) or 1} runs of each, alternating which goes first; ratio = total "
            "ppslim time / total direct time.",
            "",
            _table([oh], [("direct quant_post_static (s)", lambda r: f"{r['direct_s']:.1f}"),
                          ("ppslim ptq (s)", lambda r: f"{r['ppslim_s']:.1f}"),
                          ("ratio", lambda r: f"{r['ratio']:.3f}")]),
            overhead_breakdown(report) or "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _accuracy_table(rows: list[dict], batches) -> str:
    batch = str(max(batches))
    timed = [r for r in rows if r["latency_ms"].get(batch) and r["top1"] is not None]
    front = {timed[i]["artifact"] for i in pareto_front([(r["latency_ms"][batch]["median_ms"], r["top1"])
                                                         for r in timed])}
    return _table(rows, [
        ("artifact", lambda r: r["artifact"] + (" ◆" if r["artifact"] in front else "")),
        ("backend", lambda r: r["backend"]),
        ("top-1", lambda r: _num(r["top1"], "{:.4f}")), ("top-5", lambda r: _num(r["top5"], "{:.4f}")),
        ("Δ top-1 (pt)", lambda r: _num(r["delta_pt"], "{:+.2f}")),
        ("params file (bytes)", lambda r: reporting.fmt(r["size_bytes"])),
        ("size vs FP32", lambda r: _num(r["size_ratio"], "{:.3f}")),
        ("params", lambda r: reporting.fmt(r["params"])), ("FLOPs", lambda r: reporting.fmt(r["flops"])),
        *[(f"latency b{b} (ms)", lambda r, b=b: _ms(r["latency_ms"].get(str(b)))) for b in batches],
        ("note", lambda r: r.get("note", ""))])


def search_details(row: dict) -> list[str]:
    """A search's candidate table, folded, and its test against the baseline (a :func:`ptq_search_rows` row)."""
    if not row["table"]:
        return []
    gate = [f"Against the baseline: {Gate(**row['gate']).text()}.", ""] if row.get("gate") else []
    return ["", f"<details><summary>{row['model']}: the search's {len(row['table'])} candidates</summary>", "",
            _candidate_table(row["table"]), "", *gate, "</details>"]


def _candidate_table(candidates: list[dict]) -> str:
    """A search's own record (``ppslim.compress.ptq_search.CandidateResult`` rows), one row per candidate."""
    return _table(candidates, [
        ("#", lambda c: c["index"]), ("candidate", lambda c: c["name"]), ("stage", lambda c: c["stage"]),
        ("holdout top-1", lambda c: _num(c.get("holdout_top1"), "{:.4f}")),
        ("holdout cross-entropy", lambda c: _num(c.get("holdout_nll"), "{:.4f}")),
        ("cosine vs FP32", lambda c: _num(c.get("cosine"), "{:.4f}")),
        ("calibration images", lambda c: reporting.fmt(c.get("calib_images"))),
        ("s", lambda c: f"{c.get('seconds', 0):.1f}"), ("status", lambda c: c["status"])])


# ------------------------------------------------------------------------------- plot
def _numbered(ax, points: list[tuple[float, float, str, str, str]], title: str) -> None:
    """Scatter ``(x, y, color, marker, text)`` points, label each with its number and list the numbers with
    their full text under the axes: artifacts with equal accuracy would otherwise print over each other."""
    from matplotlib.lines import Line2D

    handles = []
    for i, (x, y, color, marker, text) in enumerate(points, 1):
        ax.scatter(x, y, s=70, color=color, marker=marker, zorder=3)
        ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(4, 5 + 9 * (i % 3)), fontsize=8,
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
        handles.append(Line2D([], [], marker=marker, linestyle="", color=color, label=f"{i}  {text}"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8 if len(points) <= 12 else 7,
              frameon=False, ncol=1 if len(points) <= 6 or len(points) > 12 else 2, title=title, title_fontsize=8)
    ax.margins(x=0.12, y=0.15)
    ax.grid(alpha=0.3, which="both")


def _front(ax, points: list[tuple[float, float, str, str, str]], label: str = "Pareto front") -> None:
    """Ring the points on the Pareto front (lower latency, higher top-1) and join them with a step line."""
    front = sorted((points[i][0], points[i][1]) for i in pareto_front([(p[0], p[1]) for p in points]))
    if not front:
        return
    xs, ys = zip(*front)
    ax.step(xs, ys, where="post", color="0.25", lw=1, ls="--", zorder=2, label=label)
    ax.scatter(xs, ys, s=190, facecolors="none", edgecolors="0.1", linewidths=1.2, zorder=4)


def _accuracy_panel(ax, rows: list[dict], batch: str, repeats: int, title: str) -> None:
    colors = {"FP32": "tab:blue", "INT8": "tab:red"}
    timed = [r for r in rows if r["latency_ms"].get(batch) and r["top1"] is not None]
    points = [(r["latency_ms"][batch]["median_ms"], 100 * r["top1"], colors.get(r["precision"], "tab:gray"),
               "s" if "prune" in r["variant"] else "o",
               f"{r['artifact']}: {100 * r['top1']:.2f}%, {r['latency_ms'][batch]['median_ms']:.2f} ms")
              for r in timed]
    untimed = [r["artifact"] for r in rows if not r["latency_ms"].get(batch)]
    _numbered(ax, points, "red INT8, blue FP32, squares pruned, ringed: Pareto front" +
              (f"; not timed: {', '.join(untimed)}" if untimed else ""))
    _front(ax, points)
    ax.set_xlabel(f"latency, batch {batch} (ms, median of {repeats} rounds)")
    ax.set_ylabel("top-1 on the val split (%)")
    ax.set_title(title, fontsize=10)


def plot(report: dict, path: str) -> str:
    """Top-1 vs latency, one point per artifact, the Pareto front ringed: the digits default, the unsaturated
    setting (when benched), and the standard architectures on every backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch = str(max(report["settings"]["batch_sizes"]))
    repeats = report["settings"]["repeats"]
    colors = {"FP32": "tab:blue", "INT8": "tab:red"}
    lat_rows = [r for r in report["latency"] if r["latency_ms"].get(batch)]
    groups = {g: [r for r in report["accuracy"] if r.get("group", "digits") == g]
              for g in dict.fromkeys(r.get("group", "digits") for r in report["accuracy"])}
    panels = len(groups) + (1 if lat_rows else 0)
    height = 8.5 if len(lat_rows) <= 8 else 11 if len(lat_rows) <= 12 else 8 + 0.28 * len(lat_rows)
    fig, axes = plt.subplots(1, panels, figsize=(9 * panels, height), squeeze=False)
    titles = {"digits": "digits (DigitsNet, 3x32x32): accuracy vs latency",
              "digits_hard": "unsaturated setting (digits_hard, 3x32x32): each method and its search"}
    for ax, (group, rows) in zip(axes[0], groups.items()):
        _accuracy_panel(ax, rows, batch, repeats, titles.get(group, group))
    if lat_rows:
        ax = axes[0][-1]
        markers = {"resnet50": "o", "mobilenet_v3_large": "^"}
        compute_colors = {"fp32": "tab:blue", "bf16": "tab:green", "int8": "tab:red"}
        trained = any(r.get("top1") is not None for r in lat_rows)
        points, models = [], []
        for r in lat_rows:
            a = r.get("agreement") or {}
            if trained:
                y = 100 * r["top1"] if r.get("top1") is not None else float("nan")
            else:
                y = a.get("centered_cosine", 1.0) if r["precision"] == "INT8" else 1.0
            sp = r["speedup"].get(batch)
            models.append(r["model"])
            points.append((r["latency_ms"][batch]["median_ms"], y,
                           compute_colors.get(r.get("compute"), colors.get(r["precision"], "tab:gray")),
                           markers.get(r["model"], "D") if not r.get("peer") else "x",
                           f"{r['model']} {r['label'].split(' (ppslim')[0]} on {r.get('backend', '-')}: "
                           f"{r['latency_ms'][batch]['median_ms']:.1f} ms" + (f", {sp:.2f}x" if sp else "")
                           + (f", {y:.2f}%" if trained and r.get("top1") is not None else "")))
        _numbered(ax, points, "circles resnet50, triangles mobilenet_v3_large, x peer; blue FP32, green BF16, "
                  "red INT8 compute; ringed: Pareto front per model")
        for model in dict.fromkeys(models):
            _front(ax, [p for p, m in zip(points, models) if m == model and p[1] == p[1] and p[3] != "x"])
        ax.set_xscale("log")
        ax.set_xlabel(f"latency, batch {batch} (ms, median, log scale)")
        ax.set_ylabel("top-1 on digits val (%)" if trained else
                      "output agreement with its FP32 source (centered cosine; FP32 = 1)")
        ax.set_title(f"timed at 3x{report['settings']['image_size']}x{report['settings']['image_size']}, "
                     f"{report['machine']['threads']} threads: one point per artifact and backend", fontsize=10)
    fig.tight_layout()
    with artifacts.atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return path


def write(out_dir: str, report: dict) -> tuple[str, str, str]:
    """``results.json``, ``results.md`` and the plot, each written atomically; JSON last (marks done)."""
    png = plot(report, os.path.join(out_dir, PLOT_PNG))
    md = os.path.join(out_dir, RESULTS_MD)
    with artifacts.atomic_file(md) as f:
        f.write(render_markdown(report))
    return artifacts.write_json(os.path.join(out_dir, RESULTS_JSON), report), md, png
