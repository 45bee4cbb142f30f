r"""The cold-start table: every method and floor, 5 seeds, one command.

Usage:
  python scripts/reproduce_table.py --config=configs/tables/coldstart.py:ml100k \
    --workdir=workdirs/table_ml100k
  METAREC_ML1M_DIR=/path/to/ml-1m python \
    scripts/reproduce_table.py --config=configs/tables/coldstart.py:ml1m \
    --workdir=workdirs/table_ml1m
  python scripts/reproduce_table.py \
    --config=configs/tables/coldstart.py:bookcrossing,text \
    --workdir=workdirs/table_bookcrossing
  python scripts/reproduce_table.py \
    --config=configs/tables/coldstart.py:ml100k,smoke --workdir=/tmp/table_s
Add `,text` for the item-text rows (melu_fo_text, finetune_text, content).

Writes table.json, table.md, timing.json, curve.json/png and per-run files
(see metarec_jax/experiments/coldstart.py); every run folder
runs/<row>/seed<s> serves with scripts/recommend.py. Every method shares
configs/melu.py's data, model and schedule. Nothing is carried from one
seed to another: each seed chooses its residual base's priors (base_grid)
and each row's grid point (grid) on its own validation users; every other
value is the config's, the same for every seed and row.
"""

import ml_collections

from configs import melu

# Fast methods first: table.json is rewritten after each method. content
# (a ridge head on fixed content) and mf_foldin (matrix factorisation,
# users folded in) are the classical rows every meta-learned row must beat;
# mf_meta starts from its seed's mf_foldin run and meta-learns the fold-in.
METHODS = ("global", "finetune", "ridge", "content", "mf_foldin", "mf_meta",
           "melu_fo", "anil", "tanp", "fomaml", "mamo", "melu", "maml",
           "metasgd")
# `,text`: MeLU (first order), fine-tuning and the ridge head with frozen
# item text embeddings (content, mf_foldin and mf_meta read the text when
# present).
TEXT_METHODS = ("melu_fo_text", "finetune_text", "ridge_text")
# Rows without an inner gradient loop: support_prior (which scales inner
# steps) means nothing to them, so their grid is the outer rate instead.
NO_INNER_LOOP = ("global", "tanp", "content", "ridge", "ridge_text",
                 "mf_meta")


# `,controls`: the overfitting controls of train/controls.py as rows: each
# is its base method with a grid over the control's strength, off
# included, so every seed keeps the control only if its own validation
# users do better with it. (row, base method, grid or static override).
CONTROL_BASES = ("finetune", "ridge")
CONTROLS = (
    ("adversarial", {"adversarial_eps": (0.0, 0.5, 2.0)}, {}),
    ("feature_dropout", {"feature_dropout": (0.0, 0.1, 0.3)}, {}),
    # Cut to the sizes the selection criterion scores: static, not chosen.
    ("support_cut", {}, {"augment_support_k": (1, 3, 5, 10, 20, 40)}),
)
TEXT_CONTROLS = (("text_dropout", {"text_dropout": (0.0, 0.2, 0.5)}, {}),)


def control_rows(text: bool) -> tuple:
  """((row, method, grid, static override), ...) of the `,controls` word."""
  rows = [(f"{m}_{name}", m, grid, static) for m in CONTROL_BASES
          for name, grid, static in CONTROLS]
  if text:
    rows += [(f"{m}_text_{name}", f"{m}_text", grid, static)
             for m in CONTROL_BASES for name, grid, static in TEXT_CONTROLS]
  return tuple(rows)


DATASETS = ("ml100k", "ml1m", "bookcrossing")
WORDS = DATASETS + ("smoke", "text", "controls")


def get_config(arg: str = "ml100k") -> ml_collections.ConfigDict:
  args = melu.parse_words(arg, WORDS)
  dataset = next((d for d in DATASETS if d in args), "ml100k")
  c = melu.get_config(",".join(sorted(args & {dataset, "smoke"})))
  c.methods = METHODS
  c.seeds = (0, 1, 2, 3, 4)
  c.vmap_seeds = True      # One vmapped computation per method.
  # One support bucket: five seeds' batches are padded to the largest of
  # them anyway, and each extra bucket is one more compile (~1 min here).
  c.data.buckets = (96,)
  c.patience = 3           # Evaluations without a better validation MAE.
  # Residual models peak early on validation (ML-100K: 50-150 steps;
  # Book-Crossing's global and finetune rows: within 1e-2 of their best
  # validation MAE by step 50 of 500, at 1.7 s per step of five runs here).
  c.num_steps = 1000 if dataset == "ml1m" else 200
  c.eval_every = 100 if dataset == "ml1m" else 25
  # A checkpoint at every evaluation: a killed table resumes its row there.
  c.checkpoint_every = c.eval_every
  # Every model starts AT the item-mean + user-bias floor (meta/residual.py).
  c.model.residual = True
  c.ensemble_method = "melu_fo"  # Its seeds' members are averaged.
  c.ensemble_size = 3            # Init seeds per data seed (same split).
  c.curve_ks = (1, 3, 5, 10, 20, 40)
  # The selection criterion (evaluation/selection.py: early stopping, sweeps
  # and the table's "Selected"): validation MAE averaged over the full
  # supports and the same validation tasks cut to each curve K. With full
  # supports only (ML-1M validation: median 30 support ratings; warm: 13),
  # ML-1M selection favoured Meta-SGD, which loses to the floors below
  # K = 20 (its curve) and so in the warm scenario, whose supports are small.
  c.validation_k_shots = c.curve_ks
  # Every row is a residual to item mean + user bias, both shrunk
  # (meta/residual.py item_prior, bias_prior): each seed picks the pair from
  # this grid on its own validation users, by the base alone (no training:
  # experiments/residual_base.py).
  c.base_grid = {"item_prior": (0.0, 3.0, 10.0, 30.0),
                 "bias_prior": (0.0, 3.0, 10.0, 30.0)}
  c.seed_base = {}  # Filled per seed by the table (residual_base.json).
  c.bias_prior = 10.0  # Only where no base is chosen (scripts/sweep.py).
  # Each row trains every point of its grid on every seed (one vmapped
  # group) and each seed keeps the point best on its own validation users
  # (experiments/grid.py). Rows with an inner loop choose how far small
  # supports move it (meta/inner.task_rate support_prior); the others
  # their outer rate. Two points: the CPU budget of a 5-seed table.
  c.support_prior = 30.0
  c.grid = {"default": {"support_prior": (10.0, 30.0)},
            **{m: {"outer_lr": (1e-3, 3e-3)} for m in NO_INNER_LOOP},
            # Fitted in closed form: its own grid, on its validation users.
            "mf_foldin": {},
            # Its outer loss: MSE, or MAE (what the tables report).
            "mf_meta": {"outer_lr": (1e-3, 3e-3), "l1_weight": (0.0, 1.0)}}
  if "text" in args:  # #4's rows: the same methods with item text features.
    c.data.text_features = True
    # Before the slow second-order methods, so a partial table has them.
    c.methods = METHODS[:6] + TEXT_METHODS + METHODS[6:]
  # Per-row static overrides, written a priori (none is chosen on data).
  c.tuned = {"mf_meta": {"init_from": "row:mf_foldin"}}
  # A row on request (add it to --config.methods): mf_foldin whose existing
  # users fold in from their pool factors, the precision chosen on the
  # pool (meta/known_users.py); validation users are new, so the
  # criterion equals mf_foldin's and only the test scenarios differ.
  c.tuned["mf_foldin_known"] = {
      "method": "mf_foldin", "mf_known_user_precisions": (1.0, 3.0, 10.0,
                                                          30.0)}
  c.grid["mf_foldin_known"] = {}
  # mf_meta from that fit: its known users' pool solutions and precision
  # come with init_from; training and validation are mf_meta's.
  c.tuned["mf_meta_known"] = {
      **c.tuned["mf_foldin_known"], "method": "mf_meta",
      "init_from": "row:mf_foldin_known"}
  c.grid["mf_meta_known"] = c.grid["mf_meta"]
  if "controls" in args:
    for row, method, grid, static in control_rows("text" in args):
      c.methods += (row,)
      c.tuned[row] = {"method": method, **static}
      # Only the control's strengths (off included): the base's other
      # values stay the config's, so "off" is the base at those values.
      c.grid[row] = grid
  c.data.use_tfds = False  # Five seeds' tasks build in seconds in memory.
  if dataset == "bookcrossing":
    # 56K candidate items per user: ~1 min per run and scenario on this
    # CPU. The selected row gets it afterwards (scripts/add_metrics.py).
    c.catalogue = False
    # No row grid: the support prior and rates were never chosen on
    # Book-Crossing's users, so they are a priori values here; each seed
    # still chooses its residual base, the shrinkage these books need.
    # Its loss, per seed.
    c.grid = {m: {"l1_weight": (0.0, 1.0)} for m in ("mf_meta",
                                                      "mf_meta_known")}
    # 73K books: ALS half-sweeps solve per item, so a smaller MF grid.
    c.mf_ranks, c.mf_regs = (16, 64), (5.0, 25.0)
  # scripts/sweep.py grid; an empty tuple keeps the config's value.
  c.sweep = ml_collections.ConfigDict()
  c.sweep.seeds = (0,)
  c.sweep.inner_lr = (0.02, 0.05, 0.1, 0.2)       # Traced: vmapped.
  c.sweep.outer_lr = (3e-4, 1e-3)                 # Traced: vmapped.
  c.sweep.weight_decay = (0.0, 1e-2)              # Traced: vmapped.
  c.sweep.bias_prior = ()                         # Traced: vmapped.
  c.sweep.support_prior = ()                      # Traced: vmapped.
  c.sweep.adversarial_eps = ()                    # Traced: vmapped.
  c.sweep.adversarial_weight = ()                 # Traced: vmapped.
  c.sweep.feature_dropout = ()                    # Traced: vmapped.
  c.sweep.text_dropout = ()                       # Traced: vmapped.
  c.sweep.augment_support_k = ()  # Static: one group per tuple of sizes.
  c.sweep.inner_steps = ()                        # Static: one group each.
  c.sweep.embed_dim = ()
  c.sweep.item_id_dropout = ()
  if "smoke" in args:
    c.num_steps = 6
    c.eval_every = c.checkpoint_every = 3
    c.inner_steps = 2
    c.batch_size = 16
    # Evaluation is most of a smoke table's time (training is 6 steps):
    # three seeds (still a mean and a std), and batches of 64 so the small
    # scenarios are not padded to 256 tasks.
    c.seeds = (0, 1, 2)
    c.eval_batch_size = 64
    c.ensemble_size = 2
    c.curve_ks = (1, 5)
    c.validation_k_shots = c.curve_ks
    c.base_grid = {"item_prior": (0.0, 10.0), "bias_prior": (10.0,)}
    c.grid = {}  # tests/test_grid.py trains a grid; smoke stays seconds.
    c.sweep.inner_lr, c.sweep.outer_lr = (0.05, 0.2), (1e-3,)
    c.sweep.weight_decay, c.sweep.inner_steps = (0.0,), (1, 2)
  return c
