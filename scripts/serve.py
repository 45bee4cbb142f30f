r"""Serve a finished run over HTTP: ratings in, recommendations out.

  python scripts/serve.py --workdir=workdirs/quickstart
  python scripts/serve.py --workdir=W --port=8000 --db=W/serving.sqlite \
    --token_file=secret.txt

--workdir: a scripts/main.py workdir or a table's runs/<row>/seed<s>.
Events (ratings, added items) go to --db (default W/serving.sqlite) before
each write is answered, and are replayed on start. The OpenAPI page is
/docs; / is a page to try it in a browser. With --token_file, writes need
`Authorization: Bearer <the file's first line>`. A refreshed version
(scripts/refresh.py) is picked up while serving.
"""

import os

from absl import flags, logging
import uvicorn

from metarec_jax.core import cli, compile_cache
from metarec_jax.core.errors import ServingError
from metarec_jax.serving import item_tasks
from metarec_jax.serving.api import app as app_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A finished run to serve.")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind (loopback by "
                    "default).")
flags.DEFINE_integer("port", 8000, "Port.")
flags.DEFINE_string("db", None, "Event database (default WORKDIR/"
                    "serving.sqlite).")
flags.DEFINE_string("token_file", None, "Writes need this file's token.")
flags.DEFINE_float("poll_s", 1.0, "How often to look for a new version.")
flags.DEFINE_bool("warmup", True, "Compile before taking requests.")
flags.mark_flags_as_required(["workdir"])


def _token():
  if FLAGS.token_file is None:
    return None
  try:
    with open(FLAGS.token_file, encoding="utf-8") as f:
      token = f.readline().strip()
  except OSError as e:
    raise ServingError(f"{FLAGS.token_file}: cannot read ({e.strerror}); "
                       "check --token_file.") from None
  if not token:
    raise ServingError(f"{FLAGS.token_file}: empty; write the token on its "
                       "first line.")
  return token


def main(argv):
  del argv
  compile_cache.enable()
  logging.set_verbosity(logging.WARNING)
  workdir = FLAGS.workdir
  db = FLAGS.db or os.path.join(workdir, "serving.sqlite")
  token = _token()
  svc = item_tasks.open_service(workdir, db)  # Errors: exit 2, unbound.
  app = app_lib.create_app(lambda: svc, token, FLAGS.poll_s, FLAGS.warmup)
  uvicorn.run(app, host=FLAGS.host, port=FLAGS.port, access_log=False,
              log_level="warning")


if __name__ == "__main__":
  cli.run(main, config_flags=())
