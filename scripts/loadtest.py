r"""Measure a running service: latency and throughput under concurrency.

  python scripts/serve.py --workdir=workdirs/quickstart --port=8123 &
  python scripts/loadtest.py --url=http://127.0.0.1:8123 --clients=1,8,32 \
    --duration=20 --out=results/serving_cpu.json

Loopback only, bounded in time (--duration per level and kind) and in
requests (--max_requests per level and kind). For each client count:
recommendations (GET, k=10, each client a user with 10 ratings), then
rating writes (POST, one rating, committed before the answer). Prints, or
writes to --out, p50/p99 ms and requests per second, with the machine's
load average before and after.
"""

import json

from absl import flags

from metarec_jax.core import cli, io
from metarec_jax.serving import loadtest

FLAGS = flags.FLAGS
flags.DEFINE_string("url", None, "The service, on this machine.")
flags.DEFINE_list("clients", ["1", "8", "32"], "Concurrent clients per level.")
flags.DEFINE_float("duration", 20.0, "Seconds per level and kind.")
flags.DEFINE_integer("max_requests", 20000, "Requests per level and kind, "
                     "at most.")
flags.DEFINE_string("out", None, "Write the JSON here (else print it).")
flags.mark_flags_as_required(["url"])


def main(argv):
  del argv
  try:
    clients = [int(c) for c in FLAGS.clients]
  except ValueError:
    raise loadtest.ServingError(f"--clients={','.join(FLAGS.clients)}: "
                                "comma-separated integers.") from None
  out = loadtest.run(FLAGS.url, clients, FLAGS.duration, FLAGS.max_requests)
  if FLAGS.out:
    io.write_json(FLAGS.out, out)
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  cli.run(main, config_flags=())
