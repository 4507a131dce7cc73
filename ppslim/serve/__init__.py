"""Serving backends: Paddle Inference (plain, oneDNN FP32/BF16/INT8) and OpenVINO (FP32/BF16/INT8).

:mod:`.cpu` tells what the CPU can do, :mod:`.backends` resolves ``Global.inference_backend`` and builds
predictors, :mod:`.pick` records and reads the backend ``ppslim bench`` measured fastest, and
:mod:`.nncf_ptq` is the NNCF PTQ engine for OpenVINO (``Slim.ptq.engine: nncf``).
"""
