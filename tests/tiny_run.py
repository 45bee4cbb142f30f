"""A tiny CSV dataset and config: a whole training run in seconds.

Shared by the CSV, serving and reliability tests (not a test module).
"""

import os

import numpy as np

from configs import melu as melu_config


def write_dataset(folder, n_users=40, n_items=60, seed=0, year=True):
  """A small synthetic dataset every user of which makes 15..30 tasks."""
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "ratings.csv"), "w") as f:
    f.write("user_id,item_id,rating,timestamp\n")
    for u in range(1, n_users + 1):
      for i in rng.choice(np.arange(1, n_items + 1), rng.integers(15, 30),
                          replace=False):
        f.write(f"{u},{i},{rng.integers(1, 6)},{1000 * i + u}\n")
  with open(os.path.join(folder, "users.csv"), "w") as f:
    f.write("user_id,gender,age\n")
    f.writelines(f"{u},{'MF'[u % 2]},{u % 4}\n" for u in range(1, n_users + 1))
  with open(os.path.join(folder, "items.csv"), "w") as f:
    f.write("item_id,title,genres" + (",year" if year else "") + "\n")
    for i in range(1, n_items + 1):
      f.write(f'{i},"Film {i}, part two",{"Drama|Comedy" if i % 3 else "War"}'
              + (f",{1950 + i}" if year else "") + "\n")
  return folder


def csv_config(folder, **files):
  c = melu_config.get_config("csv,smoke")
  c.data.use_tfds = False
  c.data.ratings = os.path.join(folder, "ratings.csv")
  c.data.users = files.get("users", os.path.join(folder, "users.csv"))
  c.data.items_file = files.get("items", os.path.join(folder, "items.csv"))
  return c


def tiny_config(folder, num_steps=6, every=3):
  """MeLU shrunk to compile and train in seconds on write_dataset's data."""
  c = melu_config.get_config("csv,smoke")
  c.data.ratings = os.path.join(folder, "ratings.csv")
  c.data.users = os.path.join(folder, "users.csv")
  c.data.items_file = os.path.join(folder, "items.csv")
  c.data.use_tfds = False
  c.data.buckets = (32,)
  c.model.embed_dim, c.model.hidden = 8, (16, 16)
  c.inner_steps, c.batch_size, c.eval_batch_size = 2, 8, 16
  c.num_steps, c.log_every = num_steps, every
  c.eval_every = c.checkpoint_every = every
  return c


def flags_for(config, keys=("num_steps", "log_every", "eval_every",
                            "checkpoint_every", "inner_steps", "batch_size",
                            "eval_batch_size")):
  """The same config as --config.* overrides for scripts/main.py."""
  out = [f"--config.data.{k}={config.data[k]}"
         for k in ("ratings", "users", "items_file", "use_tfds")]
  out += [f"--config.data.buckets=({config.data.buckets[0]},)",
          f"--config.model.embed_dim={config.model.embed_dim}",
          f"--config.model.hidden={tuple(config.model.hidden)}"]
  return out + [f"--config.{k}={config[k]}" for k in keys]
