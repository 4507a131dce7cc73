"""What each rank of ``test_two_node.py`` runs: ``ppslim`` as in a pod, plus a dump of its weights.

``paddle.distributed.launch`` starts this instead of the ``ppslim`` console script. It runs the
same CLI; the only addition is that, when ``engine.fit`` returns (after its last ``before_save``, so
QAT scales are already averaged), the rank's state dict goes to
``$PPSLIM_TEST_DUMP_DIR/rank<N>.pdparams`` for the test to compare across ranks.
"""
import os
import sys

from ppslim import cli  # first: ppslim loads PIL's PNG codec before paddle can break it
from ppslim.train import engine

_fit = engine.fit


def fit_and_dump(model, cfg, runtime, run_dir, **kwargs):
    import paddle

    result = _fit(model, cfg, runtime, run_dir, **kwargs)
    paddle.save(model.state_dict(), os.path.join(os.environ["PPSLIM_TEST_DUMP_DIR"], f"rank{runtime.rank}.pdparams"))
    return result


engine.fit = fit_and_dump
sys.exit(cli.main(sys.argv[1:]))
