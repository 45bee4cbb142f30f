"""PNGs of a run: training loss and validation MAE over steps, and the
adaptation curve where the workdir has one (curve.json).

Scalars are read from the TensorBoard event files with tensorboardX's
protobufs (no TensorFlow); without event files, validation MAE comes from
results.json's selection history. Files are written to a temporary name and
renamed, so a reader never sees half a PNG.
"""

import glob
import json
import os
import struct



def read_scalars(logdir: str) -> dict:
  """{tag: [(step, value)]} from every event file under logdir, by step.

  A resumed run appends a second event file; for a step logged twice the
  later file wins, so the curve shows the run that produced the results.
  """
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  series = {}
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")),
                     key=os.path.getmtime):
    with open(path, "rb") as f:
      data = f.read()
    pos = 0
    # TFRecord framing: u64 length, u32 crc, payload, u32 crc.
    while pos + 12 <= len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      payload = data[pos + 12:pos + 12 + length]
      pos += 16 + length
      if len(payload) < length:
        break  # A truncated last record (the run was killed mid-write).
      event = event_pb2.Event.FromString(payload)
      for v in event.summary.value:
        series.setdefault(v.tag, {})[int(event.step)] = float(v.simple_value)
  return {tag: sorted(points.items()) for tag, points in series.items()}


def _history(workdir: str) -> dict:
  series = read_scalars(os.path.join(workdir, "tensorboard"))
  results = os.path.join(workdir, "results.json")
  if "validation/mae" not in series and os.path.exists(results):
    with open(results, encoding="utf-8") as f:
      history = json.load(f).get("selection", {}).get("history", [])
    series["validation/mae"] = [(int(s), float(v)) for s, v in history]
  return series


def _save(fig, path: str) -> None:
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100, bbox_inches="tight")
  os.replace(tmp, path)


def plot_run(workdir: str) -> list:
  """Writes training.png (and adaptation_curve.png); returns the paths."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  series = _history(workdir)
  panels = [("train/loss", "training loss (query MSE)"),
            ("validation/mae", "validation MAE")]
  panels = [(t, title) for t, title in panels if series.get(t)]
  if not panels:
    raise FileNotFoundError(f"{workdir}: no TensorBoard events and no "
                            "results.json; is this a training workdir?")
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5),
                           squeeze=False)
  for ax, (tag, title) in zip(axes[0], panels):
    steps, values = zip(*series[tag])
    ax.plot(steps, values, marker="." if len(steps) < 50 else None)
    ax.set(title=title, xlabel="step")
    ax.grid(alpha=0.3)
  best = _best_step(workdir)
  if best is not None and series.get("validation/mae"):
    axes[0][-1].axvline(best, color="gray", ls="--", label=f"chosen: {best}")
    axes[0][-1].legend()
  out = [os.path.join(workdir, "training.png")]
  _save(fig, out[0])
  plt.close(fig)
  curve = os.path.join(workdir, "curve.json")
  if os.path.exists(curve):
    with open(curve, encoding="utf-8") as f:
      out.append(os.path.join(workdir, "adaptation_curve.png"))
      plot_curve(json.load(f), out[-1])
  return out


def _best_step(workdir: str):
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f).get("selection", {}).get("best_step")


def plot_curve(curve: dict, path: str) -> None:
  """A table's curve.json as one panel per scenario and metric: MAE and
  nDCG@3 against support size K, methods solid, floors dashed."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  lines = [(m, res, "-") for m, res in curve["methods"].items()] + [
      (f"{f} (floor)", res, "--") for f, res in curve["floors"].items()]
  scenario_names = list(dict.fromkeys(s for _, res, _ in lines for s in res))
  metrics = [x for x in ("mae", "ndcg@3")
             if any(x in res[s] for _, res, _ in lines for s in res)]
  fig, axes = plt.subplots(len(metrics), len(scenario_names),
                           figsize=(4 * len(scenario_names),
                                    3.5 * len(metrics)), squeeze=False)
  for col, s in enumerate(scenario_names):
    for row, x in enumerate(metrics):
      ax = axes[row][col]
      for name, res, style in lines:
        if x in res.get(s, {}):
          ax.plot(curve["ks"], res[s][x], marker="o", label=name,
                  linestyle=style)
      ax.set_xscale("log")
      ax.minorticks_off()
      ax.set_xticks(curve["ks"], [str(k) for k in curve["ks"]])
      ax.set_title(f"{s}: {x}")
      ax.set_xlabel("support size K")
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  _save(fig, path)
  plt.close(fig)



def plot_scaling(report: dict, path: str) -> None:
  """experiments/scaling.py's report: time (and XLA memory) per dimension."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  panels = [(f"{axis} (others at base)", points, "ms_per_step")
            for axis, points in report["axes"].items()]
  panels += [("catalogue items scored (32 users)", report["catalogue"],
              "ms_per_batch"),
             ("simulated devices (base step)", report["devices"],
              "ms_per_step")]
  fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
  for ax, (title, points, key) in zip(axes, panels):
    points = dict(sorted(points.items(), key=lambda kv: float(kv[0])))
    xs = [int(x) for x in points]
    ax.plot(xs, [points[x][key] for x in points], "o-", label=key)
    ax.set_xscale("log", base=2 if max(xs) < 1000 else 10)
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("ms")
    mem = [points[x].get("memory_mb") for x in points]
    if all(m is not None for m in mem):
      twin = ax.twinx()
      twin.plot(xs, mem, "s--", color="tab:orange", label="XLA memory MB")
      twin.set_ylabel("MB", color="tab:orange")
  fig.suptitle(f"metarec_jax scaling, backend {report['backend']}, "
               f"{report['cpus']} cores, {report['date']}", fontsize=10)
  fig.tight_layout()
  _save(fig, path)
