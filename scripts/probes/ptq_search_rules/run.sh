#!/usr/bin/env bash
# Stop 19's measurement of the PTQ search's selection rules (README, "What a search can and cannot promise").
# Trains DigitsNet at 10 seeds and MobileNetV3_small_x0_35 (configs/digits_hard) at 3, collects every search
# candidate's outputs, then scores the rules. ~50 min on 2 AVX2 cores. Run from the repo root.
# The bench's models (inference/digits_bench/...) are used for digits_hard seed 42 and mobilenet_v3_large
# when they exist (make bench writes them).
set -euo pipefail
P=.venv/bin/ppslim; PY=.venv/bin/python; HERE=scripts/probes/ptq_search_rules; W=${WORK:-/tmp/ptq_search_rules}
mkdir -p "$HERE/out" "$W"
for s in 42 43 44 45 46 47 48 49 50 51; do
  $P train -c configs/digits/train.yaml -o Global.seed=$s Global.output_dir=$W/m/digits_$s Global.save_inference_dir=$W/inf/digits_$s
  $P export -c configs/digits/train.yaml -o Global.seed=$s Global.pretrained_model=$W/m/digits_$s/DigitsNet/best_model Global.save_inference_dir=$W/inf/digits_$s
  $PY $HERE/collect.py configs/digits/bench.yaml $W/inf/digits_$s $HERE/out/digits_$s.npz Global.seed=$s
done
for s in 43 44; do
  $P train -c configs/digits_hard/train.yaml -o Global.seed=$s Global.output_dir=$W/m/hard_$s Global.save_inference_dir=$W/inf/hard_$s
  $P export -c configs/digits_hard/train.yaml -o Global.seed=$s Global.pretrained_model=$W/m/hard_$s/MobileNetV3_small_x0_35/best_model Global.save_inference_dir=$W/inf/hard_$s
  $PY $HERE/collect.py configs/digits_hard/ptq.yaml $W/inf/hard_$s $HERE/out/hard_$s.npz Global.seed=$s
done
$PY $HERE/collect.py configs/digits_hard/ptq.yaml inference/digits_bench/digits_hard/train $HERE/out/hard_42.npz
$PY $HERE/collect.py lat:mobilenet_v3_large inference/digits_bench/mobilenet_v3_large $HERE/out/mbv3_42.npz
$PY $HERE/rules.py
