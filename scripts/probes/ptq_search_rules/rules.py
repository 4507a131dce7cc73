"""Score selection rules on the collected searches: regret = best fixed algorithm's val top-1 minus the pick's.

R0 is the ranking before stop 19 (top-1, skipped layers, cross-entropy); R6 is the gate ppslim uses now.
Usage: rules.py ['out/*.npz']"""
import glob, sys
import numpy as np
from scipy import stats
from ppslim.compress.ptq_search import cross_entropy, gate, mcnemar_p, per_image_nll
from ppslim.predict import compare, softmax
def per_image_kl(ref, o):
    P, Q = softmax(ref.astype('float64')), softmax(o.astype('float64'))
    return (P * (np.log(np.maximum(P, 1e-12)) - np.log(np.maximum(Q, 1e-12)))).sum(1)
def kl(ref, o):
    return float(per_image_kl(ref, o).mean())
def wins_losses(base_ok, other_ok):
    return int((other_ok & ~base_ok).sum()), int((base_ok & ~other_ok).sum())
FIXED = {"hist(0.99999)", "avg", "mse", "KL(fixed)"}
rules = ["R0 top1>nll", "R1 top1>kl", "R2 top1>cos", "R3 nll", "R4 kl", "R5 gated-default", "R6 gated+nll", "R7 any-sig", "R8 any-sig-bonf", "R9 best-sig-wilcoxon", "R10 kl+sig-top1", "R11 gated-kl", "R12 score-cosine", "R13 skip>kl+sig", "ppslim gate"]
tot = {r: [] for r in rules}
for f in sorted(glob.glob(sys.argv[1] if len(sys.argv) > 1 else "scripts/probes/ptq_search_rules/out/*.npz")):
    z = np.load(f)
    names = list(z["names"]); y, yv = z["hold_labels"], z["val_labels"]
    vt = [(z["val"][i].argmax(1) == yv).mean() for i in range(len(names))]
    fixed = {"hist(0.99999)", "avg"} if "mbv3" in f else FIXED
    best_fixed = max([vt[i] for i, n in enumerate(names) if n in fixed and z["status"][i] in ("ok", "fixed")] or [0])
    cands = [i for i, n in enumerate(names) if z["status"][i] == "ok"]
    m = {i: dict(top1=(z["hold"][i].argmax(1) == y).mean(), nll=cross_entropy(z["hold"][i], y), kl=kl(z["ref_hold"], z["hold"][i]),
                 cos=compare(z["ref_hold"], z["hold"][i]).cosine, skip=int(z["skips"][i])) for i in cands}
    keys = {"R0 top1>nll": lambda i: (-m[i]["top1"], m[i]["skip"], m[i]["nll"], i),
            "R1 top1>kl": lambda i: (-m[i]["top1"], m[i]["skip"], m[i]["kl"], i),
            "R2 top1>cos": lambda i: (-m[i]["top1"], m[i]["skip"], -m[i]["cos"], i),
            "R3 nll": lambda i: (m[i]["nll"], m[i]["skip"], i),
            "R4 kl": lambda i: (m[i]["kl"], m[i]["skip"], i)}
    picks = {r: min(cands, key=k) for r, k in keys.items()}
    d = cands[0]; b = picks["R0 top1>nll"]
    ci, cb = z["hold"][d].argmax(1) == y, z["hold"][b].argmax(1) == y
    p = mcnemar_p(*wins_losses(ci, cb))
    picks["R5 gated-default"] = b if p < 0.05 else d
    # gated on nll too: paired t on per-image nll difference
    def per_nll(o): return per_image_nll(o, y)
    diff = per_nll(z["hold"][d]) - per_nll(z["hold"][b])
    t = diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)) + 1e-30)
    picks["R6 gated+nll"] = b if (p < 0.05 or (m[b]["top1"] >= m[d]["top1"] and t > 1.645)) else d
    def sig_p(c):
        a, bb = z["hold"][d].argmax(1) == y, z["hold"][c].argmax(1) == y
        wins, losses = wins_losses(a, bb)
        p1 = mcnemar_p(wins, losses)
        p2 = 1.0
        if wins >= losses:
            diff = per_nll(z["hold"][d]) - per_nll(z["hold"][c])
            if np.any(diff != 0): p2 = stats.wilcoxon(diff, alternative="greater").pvalue
        return min(p1, p2)
    rk = keys["R0 top1>nll"]
    others = [c for c in cands if c != d]
    ps = {c: sig_p(c) for c in others}
    sig = [c for c in others if ps[c] < 0.05]
    picks["R7 any-sig"] = min(sig, key=rk) if sig else d
    sigb = [c for c in others if ps[c] < 0.05 / len(others)]
    picks["R8 any-sig-bonf"] = min(sigb, key=rk) if sigb else d
    picks["R9 best-sig-wilcoxon"] = b if ps.get(b, 1) < 0.05 else d
    def per_kl(o): return per_image_kl(z["ref_hold"], o)
    k = picks["R4 kl"]
    def top1_sig(c, than):
        a, bb = z["hold"][than].argmax(1) == y, z["hold"][c].argmax(1) == y
        return mcnemar_p(*wins_losses(a, bb)) < 0.05
    better = [c for c in cands if c != k and top1_sig(c, k)]
    picks["R10 kl+sig-top1"] = min(better, key=rk) if better else k
    def kl_sig(c):
        diff = per_kl(z["hold"][d]) - per_kl(z["hold"][c])
        return np.any(diff != 0) and stats.wilcoxon(diff, alternative="greater").pvalue < 0.05
    sk = [c for c in others if kl_sig(c) or top1_sig(c, d)]
    picks["R11 gated-kl"] = min(sk, key=keys["R4 kl"]) if sk else d
    picks["R12 score-cosine"] = min(cands, key=lambda i: (-round(m[i]["cos"], 3), m[i]["skip"], -m[i]["cos"], i))
    k2 = min(cands, key=lambda i: (m[i]["skip"], m[i]["kl"], i))
    better2 = [c for c in cands if c != k2 and top1_sig(c, k2)]
    picks["R13 skip>kl+sig"] = min(better2, key=rk) if better2 else k2
    # what ppslim ships: ptq_search.gate on the same evidence (R6 with scipy's paired t-test)
    ev = lambda i: (z["hold"][i].argmax(1) == y, per_nll(z["hold"][i]))
    picks["ppslim gate"] = d if b == d or not gate("base", ev(d), "best", ev(b), 0.05).replaced else b
    line = []
    for r in rules:
        reg = 100 * (best_fixed - vt[picks[r]]); tot[r].append(reg)
        line.append(f"{r.split()[0]}:{names[picks[r]]}({100*vt[picks[r]]:.2f},{-reg:+.2f})")
    print(f"{f.split('/')[-1]:18s} bestfixed {100*best_fixed:.2f} mcnemar p {p:.2f} t {t:.2f} | " + "  ".join(line))
print()
for r in rules:
    a = np.array(tot[r]); print(f"{r:18s} misses {int((a > 1e-6).sum())}/{len(a)}  mean regret {a.mean():+.3f} pt  worst {a.max():+.2f}")
