r"""Per-method overrides selected on validation users by scripts/sweep.py.

Each entry records the sweep command that produced it. Only validation MAE
is used for selection; test scenarios are never read by the sweep.
"""

TUNED = {
    "ml100k": {},
    "ml1m": {},
}
