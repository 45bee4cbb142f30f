"""What every script shares: bad input is one line and exit code 2.

`run(main)` replaces `app.run(main)`. Before absl parses the flags it checks
every `--config=FILE:ARG` and `--config.<field>` on the command line, so a
mistyped field (`--config.data.items`, which is ConfigDict.items, a method)
or an unknown word in the config argument is one line naming it and the
nearest real one, not a traceback. While `main` runs, a `UserError` (bad
data, request, config or workdir) prints its message and exits 2; a run that
diverged prints its message and exits 1.
"""

import difflib
import functools
import importlib.util
import logging
import os
import sys
import traceback

from absl import app
import ml_collections

from metarec_jax.core import hosts
from metarec_jax.core.errors import ConfigError, TrainingDiverged, UserError

BAD_INPUT = 2
# Library log lines that say nothing to a user of a script: JAX probing for
# accelerators the machine does not have, TFDS describing its metadata files.
QUIET = ("Unable to initialize backend", "Load dataset info from",
         "Reusing dataset", "Constructing tf.data.Dataset")


class _Quiet(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(QUIET)


def _fail(message: str) -> None:
  _stop(f"error: {message}", BAD_INPUT)


def _load_config(spec: str):
  """`FILE[:ARG]` -> the ConfigDict that file's get_config(ARG) returns."""
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise ConfigError(f"{path}: no such config file.")
  module_spec = importlib.util.spec_from_file_location("_checked_config",
                                                       path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def check_field(config, field: str, flag: str = "config") -> None:
  """Raises ConfigError unless `field` (a.b.c) names a field of config."""
  node, done = config, []
  for part in field.split("."):
    if isinstance(node, ml_collections.ConfigDict) and part in node.keys():
      node = node[part]
      done.append(part)
      continue
    where = ".".join(done)
    keys = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) \
        else []
    near = difflib.get_close_matches(part, keys, n=1, cutoff=0.5)
    prefix = f"--{flag}.{where + '.' if where else ''}"
    hint = f"; did you mean {prefix}{near[0]}?" if near else (
        f"; {prefix[:-1]} has fields {', '.join(sorted(keys))}." if keys
        else f"; {prefix[:-1]} is not a group of fields.")
    method = (" (a ConfigDict method name, not a field)"
              if hasattr(ml_collections.ConfigDict, part) else "")
    raise ConfigError(f"--{flag}.{field}: no such config field{method}{hint}")


def check_config_args(argv, flag: str = "config") -> None:
  """Loads --flag=FILE:ARG and checks every --flag.<field> of argv."""
  specs = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{flag}=")]
  # --config.a.b=v, --config.a.b v, and absl's --noconfig.a.b for False.
  fields = [a.split("=", 1)[0].split(".", 1)[1] for a in argv
            if a.startswith((f"--{flag}.", f"--no{flag}."))]
  if not specs:
    return
  try:
    config = _load_config(specs[-1])
    for field in fields:
      check_field(config, field, flag)
  except UserError as e:
    _fail(str(e))


def exit_on_bad_input(fn):
  """Wraps a script's main: UserError -> exit 2, divergence -> exit 1."""

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except UserError as e:
      _fail(str(e))
    except TrainingDiverged as e:
      _stop(f"error: {e}", 1)
    except Exception:  # pylint: disable=broad-except
      if hosts.process_count() == 1:
        raise
      _stop("error: " + traceback.format_exc(), 1)

  return wrapper


def _stop(message: str, code: int) -> None:
  """Prints message and exits. One of several processes exits at once:
  jax.distributed's orderly shutdown would wait for the others, which wait
  in their next collective for this one; a hard exit stops its heartbeats,
  and the coordinator stops the rest, naming this process."""
  if hosts.process_count() > 1:
    me = f"process {hosts.process_index()} of {hosts.process_count()}"
    hosts.report_failure(message)
    first = hosts.other_failures()
    if first:  # This one stopped because another failed: name that one.
      message = f"stopped because {first[0]}\n(here: {message})"
    print(f"{me}: {message}", file=sys.stderr, flush=True)
    os._exit(code)  # pylint: disable=protected-access
  print(message, file=sys.stderr)
  sys.exit(code)


def run(main, config_flags=("config",)) -> None:
  """app.run(main) after checking the config flags of sys.argv."""
  for flag in config_flags:
    check_config_args(sys.argv[1:], flag)
  for name in ("absl", "jax._src.xla_bridge"):
    logging.getLogger(name).addFilter(_Quiet())
  app.run(exit_on_bad_input(main))
