"""``Slim.ptq.algo: auto``: config rules, candidate order, holdout split and ranking (no quantization here;
the real search runs in tests/e2e/test_ptq_search.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from ppslim import config, data
from ppslim.compress import ptq_search
from ppslim.compress.ptq_search import Candidate, CandidateResult
from ppslim.config import PtqAlgo, PtqSearchConfig, SearchScore, TieBreak
from ppslim.errors import ConfigError

from tests.conftest import DIGITS_CONFIG, run_cli


def load(*overrides: str):
    return config.load(str(DIGITS_CONFIG), list(overrides))


def rejected(*overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(*overrides)
    return info.value


# ------------------------------------------------------------------------------- config
def test_auto_with_default_search_and_a_tuned_block():
    cfg = load("Slim.ptq.algo=auto")
    assert cfg.Slim.ptq.algo == PtqAlgo.AUTO and cfg.Slim.ptq.search is None
    tuned = load("Slim.ptq.algo=auto", "Slim.ptq.search.algos=[avg,mse]", "Slim.ptq.search.max_candidates=3",
                 "Slim.ptq.search.budget_s=60", "Slim.ptq.search.score=cosine", "Slim.ptq.search.skip_layers=[2]")
    s = tuned.Slim.ptq.search
    assert s.algos == (PtqAlgo.AVG, PtqAlgo.MSE) and s.max_candidates == 3 and s.score == SearchScore.COSINE
    assert s.skip_layers == (2,) and s.budget_s == 60


@pytest.mark.parametrize("overrides, key, text", [
    (["Slim.ptq.algo=hist", "Slim.ptq.search.budget_s=10"], "Slim.ptq.search",
     "tunes the search of algo auto, but algo is hist"),
    (["Slim.ptq.search.budget_s=10"], "Slim.ptq.search", "but algo is hist"),  # default algo: hist
    (["Slim.ptq.algo=auto", "Slim.ptq.hist_percent=0.999"], "Slim.ptq.hist_percent", "search.hist_percents"),
    (["Slim.ptq.algo=auto", "Slim.ptq.weight_quantize_type=abs_max"], "Slim.ptq.weight_quantize_type",
     "search.weight_quantize_types"),
    (["Slim.ptq.algo=auto", "Slim.ptq.round_type=adaround"], "Slim.ptq.round_type", "search.round_types"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.algos=[avg,auto]"], "Slim.ptq.search.algos.1", "the search itself"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.algos=[]"], "Slim.ptq.search.algos", "at least one"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.algos=[avg,avg]"], "Slim.ptq.search.algos", "listed twice"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.hist_percents=[0.99,1.5]"], "Slim.ptq.search.hist_percents.1",
     "(0, 1]"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.round_types=[round,adarund]"], "Slim.ptq.search.round_types.1",
     "did you mean adaround"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.weight_quantize_types=[per_channel]"],
     "Slim.ptq.search.weight_quantize_types.0", "not in"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.skip_layers=[1,0]"], "Slim.ptq.search.skip_layers.1", ">= 1"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.max_candidates=0"], "Slim.ptq.search.max_candidates", ">= 1"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.budget_s=0"], "Slim.ptq.search.budget_s", "> 0"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.budget=5"], "Slim.ptq.search.budget", "did you mean budget_s"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.score=top5"], "Slim.ptq.search.score", "top1"),
    (["Slim.ptq.bias_correction=true"], "Slim.ptq.bias_correction", "only inside AdaRound"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.score=cosine", "Slim.ptq.search.tie_break=nll"],
     "Slim.ptq.search.tie_break", "breaks ties of score top1"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.score=cosine", "Slim.ptq.search.significance=0.05"],
     "Slim.ptq.search.significance", "tests on the labels of score top1"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.significance=0"], "Slim.ptq.search.significance", "(0, 1]"),
    (["Slim.ptq.algo=auto", "Slim.ptq.search.significance=1.5"], "Slim.ptq.search.significance", "(0, 1]"),
])
def test_bad_search_keys_fail_in_one_line(overrides, key, text):
    err = rejected(*overrides)
    assert err.key_path == key and text in str(err) and "\n" not in str(err)


def test_fixed_round_type_and_bias_correction_are_honoured_keys():
    ptq = load("Slim.ptq.round_type=adaround", "Slim.ptq.bias_correction=true").Slim.ptq
    assert (ptq.round_type, ptq.bias_correction) == ("adaround", True)
    legacy = load("Slim.ptq.onnx_format=false", "Slim.ptq.bias_correction=true").Slim.ptq
    assert legacy.bias_correction and legacy.round_type is None
    # unset keys stay out of the recorded settings: PTQ artifacts made before these keys keep their recipe
    assert "round_type" not in config.to_dict(load("Slim.ptq.algo=hist"))["Slim"]["ptq"]


def test_bench_overhead_model_needs_a_fixed_first_algorithm():
    base = ["Bench.overhead_arch=resnet50", "Bench.latency_models=[{arch: resnet50, ptq_algos: [auto, avg]}]"]
    err = rejected(*base)
    assert err.key_path == "Bench.latency_models.0.ptq_algos" and "not auto" in str(err)
    assert load("Bench.overhead_arch=resnet50",
                "Bench.latency_models=[{arch: resnet50, ptq_algos: [hist, auto]}]").Bench.latency_models[0]


def test_cli_refuses_a_search_block_with_a_fixed_algo_before_any_work(tmp_path):
    proc = run_cli("ptq", "-c", str(DIGITS_CONFIG), "-o", "Slim.ptq.algo=avg", "Slim.ptq.search.max_candidates=2",
                   f"Global.output_dir={tmp_path}", f"Global.inference_model_dir={tmp_path / 'missing'}", timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: Slim.ptq.search: tunes the search of algo auto, but algo is avg"), lines


# ------------------------------------------------------------------------------- candidates
def test_algorithm_stage_order_and_hist_percents():
    names = [c.name for c in ptq_search.plan_algos(PtqSearchConfig())]
    assert names == ["hist(0.99999)", "hist(0.9999)", "hist(0.999)", "avg", "mse", "abs_max", "emd"]
    tuned = PtqSearchConfig(algos=(PtqAlgo.AVG, PtqAlgo.HIST, PtqAlgo.KL), hist_percents=(0.999,),
                            weight_quantize_types=("abs_max", "channel_wise_abs_max"))
    plan = ptq_search.plan_algos(tuned)
    assert [c.name for c in plan] == ["avg/per-tensor", "hist(0.999)/per-tensor", "KL/per-tensor"]
    assert {c.stage for c in plan} == {"algo"} and all(c.skip == () for c in plan)


def test_refinements_and_bias_correction_implies_adaround_with_onnx_format():
    search = PtqSearchConfig(round_types=("round", "adaround"), bias_correction=(False, True))
    assert ptq_search.refinements(search) == [("weight_quantize_type", "abs_max"), ("round_type", "adaround"),
                                              ("bias_correction", True)]
    base = ptq_search.plan_algos(search)[3]  # avg
    bc = ptq_search.refine(base, "bias_correction", True, onnx_format=True)
    assert (bc.round_type, bc.bias_correction, bc.name, bc.stage) == ("adaround", True, "avg/adaround/bias-corr",
                                                                      "refine")
    assert ptq_search.refine(base, "bias_correction", True, onnx_format=False).round_type == "round"


def test_candidate_config_adds_skipped_layers_to_the_users_list():
    ptq = load("Slim.ptq.algo=auto", "Slim.ptq.skip_tensor_list=[conv2d_0.w_0]").Slim.ptq
    c = Candidate(PtqAlgo.HIST, 0.999, "abs_max", "round", False, skip=("linear_0.w_0",), stage="skip")
    out = c.config(ptq)
    assert (out.algo, out.hist_percent, out.weight_quantize_type, out.search) == (PtqAlgo.HIST, 0.999, "abs_max", None)
    assert out.skip_tensor_list == ("conv2d_0.w_0", "linear_0.w_0")
    assert c.name == "hist(0.999)/per-tensor/skip1"
    avg = Candidate(PtqAlgo.AVG, None, "channel_wise_abs_max", "round", False).config(ptq)
    assert avg.hist_percent == ptq.hist_percent  # unused by avg; the key keeps its value


@pytest.mark.parametrize("layers, counts", [(10, [1, 2, 4]), (4, [1, 2, 3]), (3, [1, 2]), (2, [1]), (1, [])])
def test_skip_counts_keep_one_layer_quantized(layers, counts):
    assert ptq_search.skip_counts(PtqSearchConfig(skip_layers=(1, 2, 4)), layers) == counts


@pytest.mark.parametrize("available, wanted, calib, size", [
    (1438, 256, 160, 256),   # digits: plenty
    (449, 256, 320, 129),    # digits_hard with 32 x 10: calibration keeps its 320 images
    (449, 256, 160, 256),
    (100, 256, 160, 25),     # a quarter of a small split
    (1, 256, 160, 0),        # nothing to hold out
])
def test_holdout_size(available, wanted, calib, size):
    assert ptq_search.holdout_size(available, wanted, calib) == size


def row(index, top1, cosine, skip=0, nll=0.1, status="ok"):
    return CandidateResult(index, f"c{index}", "skip" if skip else "algo", {"skip_tensors": ["w"] * skip}, status,
                           top1, nll, cosine, 1.0)


def ranked(rows, score=SearchScore.TOP1, tie_break=None):
    return [r.index for r in sorted(rows, key=lambda r: ptq_search._rank_key(r, score, tie_break))]


def test_ranking_top1_then_fewer_skipped_layers_then_tie_break_then_order():
    rows = [row(0, 0.95, 0.990, nll=0.20), row(1, 0.95, 0.995, nll=0.30), row(2, 0.95, 0.999, skip=2, nll=0.01),
            row(3, 0.95, 0.995, nll=0.30), row(4, 0.94, 0.999, nll=0.01)]
    assert ranked(rows) == [0, 1, 3, 2, 4]                            # default tie-break: lower cross-entropy
    assert ranked(rows, tie_break=TieBreak.COSINE) == [1, 3, 0, 2, 4]  # a skip candidate needs a better top-1
    assert ranked([*rows, row(5, 0.96, 0.98, skip=1, nll=0.5)])[0] == 5
    cos = [row(0, None, 0.9951, nll=None), row(1, None, 0.9954, skip=1, nll=None), row(2, None, 0.9990, skip=1)]
    assert ranked(cos, SearchScore.COSINE) == [2, 0, 1]  # cosine counts to 3 decimals before skipped layers


# ------------------------------------------------------------------------------- the gate against the baseline
def evidence(correct, nll):
    return np.asarray(correct, dtype=bool), np.asarray(nll, dtype="float64")


def test_significance_defaults_to_five_percent_and_is_settable():
    assert load("Slim.ptq.algo=auto").Slim.ptq.search is None and PtqSearchConfig().alpha == 0.05
    s = load("Slim.ptq.algo=auto", "Slim.ptq.search.significance=0.01").Slim.ptq.search
    assert s.significance == 0.01 and s.alpha == 0.01


def test_gate_keeps_the_baseline_when_the_best_wins_by_one_image():
    rng = np.random.default_rng(0)
    base_ok = np.ones(256, dtype=bool)
    base_ok[:3] = False
    best_ok = base_ok.copy()
    best_ok[0] = True                                        # one image more: McNemar p = 0.5
    noise = rng.normal(0.0, 0.05, 256)
    g = ptq_search.gate("hist", evidence(base_ok, 0.13 + noise), "mse", evidence(best_ok, 0.13 + noise[::-1]), 0.05)
    assert g.top1_p == pytest.approx(0.5) and g.nll_p > 0.05 and not g.replaced
    assert "kept the baseline hist: the best-ranked mse was not better beyond chance" in g.text()
    assert ptq_search.gate("hist", evidence(base_ok, 0.13 + noise), "mse", evidence(best_ok, 0.13 + noise[::-1]),
                           1.0).replaced                    # significance 1: the ranking alone


def test_gate_replaces_the_baseline_on_a_clear_top1_gain():
    base_ok = np.zeros(100, dtype=bool)
    best_ok = base_ok.copy()
    best_ok[:10] = True                                      # 10 images only the best gets right, none the other way
    nll = np.full(100, 0.5)
    g = ptq_search.gate("hist", evidence(base_ok, nll), "avg", evidence(best_ok, nll), 0.05)
    assert g.top1_p == pytest.approx(0.5 ** 10, rel=1e-3) and g.replaced
    assert g.text().startswith("avg replaced the baseline hist")


def test_gate_weighs_cross_entropy_only_at_equal_or_better_top1():
    ok = np.ones(129, dtype=bool)
    rng = np.random.default_rng(1)
    base_nll = 0.04 + rng.uniform(0.0, 0.01, 129)
    better = ptq_search.gate("hist(0.99999)", evidence(ok, base_nll), "hist(0.999)", evidence(ok, base_nll * 0.9),
                             0.05)
    assert better.top1_p == 1.0 and better.nll_p < 1e-6 and better.replaced  # consistently lower: replaced
    worse_top1 = ok.copy()
    worse_top1[:2] = False
    lower = ptq_search.gate("hist(0.99999)", evidence(ok, base_nll), "hist(0.999)",
                            evidence(worse_top1, base_nll * 0.9), 0.05)
    assert lower.nll_p == 1.0 and not lower.replaced          # a lower top-1 is never bought by cross-entropy


def test_cross_entropy_of_logits_and_of_probabilities():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    labels = np.array([0, 2])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -np.log(probs[[0, 1], [0, 2]]).mean()
    assert ptq_search.cross_entropy(logits, labels) == pytest.approx(expected)
    assert ptq_search.cross_entropy(probs, labels) == pytest.approx(expected)  # a model ending in softmax


# ------------------------------------------------------------------------------- holdout
def test_holdout_split_is_seeded_disjoint_and_never_reads_eval(make_config, digits_dir, tmp_path):
    from ppslim.stages import ptq

    cfg = make_config("Slim.ptq.algo=auto", "Slim.ptq.search.holdout_images=50",
                      # an Eval split that does not exist: the search must not read it
                      f"DataLoader.Eval.dataset.cls_label_path={tmp_path / 'no_such_list.txt'}")
    calib = ptq.calibration(cfg, cfg.Slim.ptq)
    a = ptq_search.holdout_split(cfg, cfg.Slim.ptq, PtqSearchConfig(holdout_images=50), calib)
    b = ptq_search.holdout_split(cfg, cfg.Slim.ptq, PtqSearchConfig(holdout_images=50), calib)
    assert a.images.shape == (50, 3, 32, 32) and np.array_equal(a.images, b.images)
    assert np.array_equal(a.labels, b.labels) and a.calib.files == b.calib.files
    assert len(a.calib.files) == len(calib.files) - 50 and a.source == "DataLoader.Train"
    train = dict(data.check_dataset(cfg, "Train"))
    held = [p for p in calib.files if p not in set(a.calib.files)]
    assert len(held) == 50 and [train[p] for p in held] == a.labels.tolist()
    assert list(a.calib.files) == [p for p in calib.files if p in set(a.calib.files)]  # order kept
    other = ptq_search.holdout_split(make_config("Global.seed=7"), cfg.Slim.ptq, PtqSearchConfig(holdout_images=50),
                                     calib)
    assert other.calib.files != a.calib.files  # the seed picks the images
    # the images calibration reads (the first batch_size x batch_nums) are not held out while others remain:
    # the candidates calibrate on exactly what a fixed-algorithm run calibrates on
    needed = cfg.Slim.ptq.batch_size * cfg.Slim.ptq.batch_nums
    assert len(calib.files) - needed >= 50
    assert a.calib.files[:needed] == calib.files[:needed] and other.calib.files[:needed] == calib.files[:needed]


def test_a_memorized_holdout_is_named_in_the_record():
    assert ptq_search.memorized_note(0.98, 129) == ""
    assert ptq_search.memorized_note(None, 129) == ""
    note = ptq_search.memorized_note(1.0, 129)
    assert "scores 100.0% top-1 on the 129 held-out Train images" in note and "tie-breaker" in note


def test_cosine_score_holds_out_calibration_images_without_labels(make_config, digits_dir):
    from ppslim.stages import ptq

    folder = os.path.join(str(digits_dir), "images", "3")
    cfg = make_config("Slim.ptq.algo=auto", f"Slim.ptq.calib_dir={folder}", "Slim.ptq.search.score=cosine")
    calib = ptq.calibration(cfg, cfg.Slim.ptq)
    out = ptq_search.holdout_split(cfg, cfg.Slim.ptq, cfg.Slim.ptq.search, calib)
    assert out.labels is None and out.source == "Slim.ptq.calib_dir"
    assert len(out.images) + len(out.calib.files) == len(calib.files)
    raw = config.to_dict(cfg)
    del raw["DataLoader"]["Train"]  # calibrating on calib_dir needs no Train split; top-1 scoring does
    nolabels = config.from_dict(raw, ["Slim.ptq.search.score=top1"])
    with pytest.raises(ConfigError, match=r"Slim.ptq.search.score: top1 .* set DataLoader.Train, or score: cosine"):
        ptq_search.holdout_split(nolabels, nolabels.Slim.ptq, nolabels.Slim.ptq.search, calib)
