"""Paddle's dygraph-to-static tracer, with the records other traces left behind cleared.

Paddle 2.6 records the parameters a trace touches under ``id(program)``; ``paddle.jit.save``'s own
trace drops its record when it succeeds, but nothing drops the others:
- PaddleSlim's ``dygraph2program`` traces without dropping it, and PaddleSlim calls it for every
  FLOPs count (``paddleslim.flops``) and every pruner's graph analysis;
- a trace that raises (a network that does not convert) never reaches the drop.
Once such a program is freed, a later ``Program`` can get its address and inherit its parameters,
and ``paddle.jit.save`` fails with ``KeyError: '<their name>'`` (CI at stop 19:
``'batch_norm2d_1.b_0'``, in the QAT export of a DistillationModel's student). Which save fails
depends on memory reuse, so it comes and goes with unrelated changes. The in-place map is keyed the
same way. Outside a trace both records should be empty, so clearing them there is safe.
"""
from __future__ import annotations

import contextlib
from typing import Iterator


def forget_stale_traces() -> int:
    """Clear what earlier traces left in the tracer; returns how many programs' records it dropped.
    Call it only outside a trace (ppslim never nests one of its saves in another)."""
    from paddle.jit.dy2static.program_translator import ProgramTranslator

    translator = ProgramTranslator.get_instance()
    records = (translator._params_recorder.params_dict, translator._inplace_map.params_dict)
    stale = len(records[0])
    for record in records:
        record.clear()
    return stale


@contextlib.contextmanager
def clean_trace() -> Iterator[None]:
    """Trace (``paddle.jit.save``, a QAT export) with no records left from before, and leave none after."""
    forget_stale_traces()
    try:
        yield
    finally:
        forget_stale_traces()
