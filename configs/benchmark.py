r"""Speed benchmark cases (issue #5). Each case is a MeLU meta-step config.

  python scripts/benchmark.py --config=configs/benchmark.py:full --out=bench.json
  python scripts/benchmark.py --config=configs/benchmark.py:smoke --out=/tmp/b.json
  (`:check`: the three cases scripts/accelerator_check.sh times)

Reference: the official PyTorch MeLU takes 330 ms per outer step (32 tasks, 5
local steps; 98 ms with 1) on this 2-core CPU; its meta-gradient is first
order in effect.
"""

import ml_collections

from configs import melu


def _case(dataset, inner_steps=5, first_order=False, batch_size=32,
          python_loop=False):
  c = ml_collections.ConfigDict()
  c.dataset = dataset
  c.inner_steps = inner_steps
  c.first_order = first_order
  c.batch_size = batch_size
  c.python_loop = python_loop
  return c


def get_config(arg: str = "full") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Each case's config starts from the dataset's base config.
  c.bases = ml_collections.ConfigDict(
      {d: melu.get_config(d) for d in ("ml100k", "ml1m")})
  c.cases = ml_collections.ConfigDict({
      "melu_ref_ml100k_5step": _case("ml100k"),
      "melu_ref_ml100k_5step_fo": _case("ml100k", first_order=True),
      "melu_ref_ml100k_1step": _case("ml100k", inner_steps=1),
      "melu_ref_ml1m_5step": _case("ml1m"),
      # ML-100K has only ~780 training tasks: a 1024-task batch is mostly
      # padding (tasks_per_s counts real tasks only). ML-1M has ~7500.
      "melu_large_batch_ml100k_5step_fo": _case("ml100k", first_order=True,
                                                batch_size=1024),
      "melu_large_batch_ml1m_5step_fo": _case("ml1m", first_order=True,
                                              batch_size=1024),
      "python_loop_ml100k_5step": _case("ml100k", python_loop=True),
  })
  c.steps = 30          # Timed steps per case, after one warm-up per shape.
  c.loop_steps = 5      # The Python-loop case is slow: fewer steps.
  c.eval_batches = 5
  c.seed = 0
  c.ml1m_dir = ""       # Else $METAREC_ML1M_DIR; the ML-1M case is skipped
                        # (and says so) when neither is set.
  c.gram_inner = True   # False: the generic inner loop, for comparison.
  c.buckets = ()        # Support-size buckets; () keeps the dataset config's.
  if arg == "check":  # scripts/accelerator_check.sh: three cases in ~2 min.
    keep = ("melu_ref_ml100k_5step", "melu_ref_ml100k_5step_fo",
            "melu_large_batch_ml1m_5step_fo")
    c.cases = ml_collections.ConfigDict(
        {k: v for k, v in c.cases.items() if k in keep})
  if arg == "smoke":
    c.steps = 3
    c.loop_steps = 1
    c.eval_batches = 1
    c.buckets = (96,)  # One shape per case: one compile.
    c.cases.melu_large_batch_ml100k_5step_fo.batch_size = 128
    c.cases.melu_large_batch_ml1m_5step_fo.batch_size = 128
  return c
