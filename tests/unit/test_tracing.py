"""ppslim.tracing: what other traces leave in Paddle's tracer must not break a later paddle.jit.save.

Paddle keys its trace records by ``id(program)``, so the failure needs a new program at the address of
one whose record was left behind, which memory reuse gives only sometimes (it broke CI once, stop 19).
Here every program gets the same key, which makes that collision happen every time."""
from __future__ import annotations

import os

import pytest

from ppslim import tracing  # before paddle, as everywhere

SHAPE = [3, 8, 8]


def _net(fail: bool = False):
    import paddle

    class Net(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4)
            self.fail = fail  # an attribute: dy2static's rewritten forward does not see closures

        def forward(self, x):
            y = self.bn(self.conv(x))
            if self.fail:  # a network that does not convert: the trace raises after touching parameters
                raise ValueError("this network does not convert")
            return y

    return Net()


def _save(net, prefix: str, shape=SHAPE) -> None:
    import paddle
    from paddle.static import InputSpec

    paddle.jit.save(net, prefix, input_spec=[InputSpec([None, *shape], "float32")])


def _paddleslim_flops(tmp_path):
    """PaddleSlim's FLOPs count, which ppslim's models.count_flops calls: its trace keeps its record."""
    from ppslim import models

    net = _net()
    models.count_flops(net, SHAPE)
    return net


def _failed_trace(tmp_path):
    net = _net(fail=True)
    with pytest.raises(ValueError, match="does not convert"):
        _save(net, str(tmp_path / "failed" / "inference"))
    return net


LEFT_RECORD = pytest.mark.parametrize("leave_record", [_paddleslim_flops, _failed_trace],
                                      ids=["paddleslim-flops", "failed-trace"])


def _names(net) -> set:
    return {p.name for p in net.parameters()} | {b.name for b in net.buffers()}


@pytest.fixture
def colliding_programs(monkeypatch):
    from paddle.jit.dy2static import program_translator

    monkeypatch.setattr(program_translator, "_program_hash", lambda program: 0)
    yield
    tracing.forget_stale_traces()


@LEFT_RECORD
def test_paddle_save_inherits_a_left_records_parameters(colliding_programs, tmp_path, leave_record):
    """The bug itself, so this file notices if Paddle or PaddleSlim fixes it."""
    second = _net()  # built first: PaddleSlim's trace restarts dygraph's layer names, and equal names hide the bug
    first = leave_record(tmp_path)
    with pytest.raises(KeyError) as error:
        _save(second, str(tmp_path / "second" / "inference"))
    assert error.value.args[0] in _names(first)


@LEFT_RECORD
def test_clean_trace_saves_after_a_left_record(colliding_programs, tmp_path, leave_record):
    second = _net()
    leave_record(tmp_path)
    with tracing.clean_trace():
        _save(second, str(tmp_path / "second" / "inference"))
    assert os.path.getsize(tmp_path / "second" / "inference.pdiparams") > 0
    assert tracing.forget_stale_traces() == 0, "clean_trace leaves no record behind"


def test_verified_export_after_counting_another_models_flops(colliding_programs, tmp_path, make_config):
    """ppslim's own path, as the CI failure took it: a FLOPs count, then a verified export in one process."""
    from ppslim import models
    from ppslim.inference_model import save_verified, verification_images
    from ppslim.predict import dygraph_predictor, predict_all

    cfg = make_config()
    model = models.build_model(cfg.Arch)
    models.count_flops(models.build_model(cfg.Arch), cfg.Global.image_shape)
    reference = predict_all(dygraph_predictor(model), verification_images(cfg))
    saved = save_verified(cfg, str(tmp_path / "inference"),
                          lambda tmp: _save(model, os.path.join(tmp, "inference"), cfg.Global.image_shape),
                          reference, "export")
    assert saved.agreement.cosine > 0.999 and os.path.isfile(saved.model_file)
