#!/usr/bin/env bash
# One prepared accelerator check: on a machine with a GPU (or TPU), in the
# project root:
#
#   bash scripts/accelerator_check.sh            # -> results/bench_gpu.json
#   WHEELS=/path/to/wheels bash scripts/accelerator_check.sh   # offline install
#   SMOKE=1 bash scripts/accelerator_check.sh    # smoke configs: try it on a CPU
#
# Steps, each under its own cap so a slow one cannot eat the rest (about
# 7.5 minutes in all): versions; the benchmark (each case compiled with an
# empty compilation cache, then from that cache: cold vs cached); the quick
# start's main job; MeLU in float32 and in bfloat16 (speed and metrics);
# the ML-100K cold-start table (the rows it finishes within its cap). Every step's
# log and JSON go to $OUT (default workdirs/accelerator_check), and
# experiments/accelerator_report.py gathers them into results/bench_gpu.json
# (bench_tpu.json; on a CPU accelerator_check_cpu.json)
# (RESULT=path to choose). A step that fails or hits its cap is recorded as
# such; the report is written either way.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-workdirs/accelerator_check}
SMOKE=${SMOKE:-}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)  # Absolute: the steps cd nowhere.
STEPS="versions bench quickstart melu_f32 melu_bf16 table"
for s in $STEPS install; do  # Only what this script writes: OUT may hold more.
  rm -rf "${OUT:?}/$s" "$OUT/$s.log" "$OUT/$s.step.json"
done
rm -rf "$OUT/xla" "$OUT/bench.json"
export METAREC_COMPILE_CACHE="$OUT/xla"   # empty: the cold compile

# The report is written however the script ends (a step failing, an outer
# time limit's TERM): what finished is kept.
report() {
  "$PY" -m metarec_jax.experiments.accelerator_report --out="$OUT" \
    ${RESULT:+--result="$RESULT"}
}
trap report EXIT

if [ -n "${WHEELS:-}" ]; then  # An offline machine (see README "Accelerators").
  timeout 60 "$PY" -m pip install -q --no-index --no-deps --find-links "$WHEELS" \
    "$WHEELS"/*.whl > "$OUT/install.log" 2>&1 || echo "install failed" >> "$OUT/install.log"
fi

step() {  # step NAME CAP_S COMMAND...: runs it, records rc and wall seconds.
  local name=$1 cap=$2; shift 2
  local t0=$(date +%s%N)
  timeout "$cap" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "{\"rc\": $rc, \"cap_s\": $cap, \"wall_ms\": $ms}" > "$OUT/$name.step.json"
  echo "$name: rc $rc, $ms ms (cap $cap s)"
}

if [ -n "$SMOKE" ]; then W=,smoke; BENCH=smoke; else W=; BENCH=check; fi

step versions 20 "$PY" -c "import jax, jaxlib, json, sys; print(json.dumps({
  'python': sys.version.split()[0], 'jax': jax.__version__,
  'jaxlib': jaxlib.__version__, 'backend': jax.default_backend(),
  'devices': [d.device_kind for d in jax.devices()]}))"
# Each case compiles with an empty cache, then again from that cache.
step bench 140 "$PY" scripts/benchmark.py \
  --config=configs/benchmark.py:$BENCH --out="$OUT/bench.json"
step quickstart 70 "$PY" scripts/main.py --config=configs/selected.py:ml100k$W \
  --workdir="$OUT/quickstart"
# bfloat16 against float32 on MeLU, whose layers and inner loop it casts.
step melu_f32 60 "$PY" scripts/main.py --config=configs/melu.py:ml100k$W \
  --workdir="$OUT/melu_f32"
step melu_bf16 60 "$PY" scripts/main.py --config=configs/melu.py:ml100k$W \
  --config.compute_dtype=bfloat16 --workdir="$OUT/melu_bf16"
step table 110 "$PY" scripts/reproduce_table.py \
  --config=configs/tables/coldstart.py:ml100k$W --workdir="$OUT/table"

