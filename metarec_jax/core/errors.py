"""The errors a user can act on, one place for every layer.

`UserError`s are bad input (a file, a flag, a request, a workdir): scripts
print their one-line message and exit with code 2 (core/cli.py). The message
names the file and line, the config field or the request field, and what to
do. `TrainingDiverged` is a run that went non-finite: exit code 1, naming the
step and the last good checkpoint.
"""


class UserError(ValueError):
  """Bad input; the message says where and what to do."""


class DataError(UserError):
  """A data file is malformed; the message names the file and line."""


class AssetError(UserError):
  """A pinned asset could not be obtained or failed its checksum."""


class ConfigError(UserError):
  """A config argument or field is unknown or has a wrong value."""


class WorkdirError(UserError):
  """The workdir holds a finished run or is in use by another process."""


class ServingError(UserError):
  """A request the model cannot answer (unknown items, unfinished run)."""


class TrainingDiverged(RuntimeError):
  """A loss or gradient went non-finite; names the step and checkpoint."""


class ScenarioLeak(RuntimeError):
  """A test scenario was read outside the one evaluation after training."""
