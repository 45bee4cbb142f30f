r"""Per-method overrides selected on validation users by scripts/sweep.py.

Each entry records the sweep command that produced it; the sweep's whole
grid with every configuration's validation MAE is committed next to it under
results/sweeps/. Only validation MAE (seed 0's validation users) is used for
selection; test scenarios are never read by the sweep. Methods without an
entry run with configs/tables/coldstart.py's shared values (not tuned: the
2-core CPU time of this project went to the tables; see the README).
"""

# python scripts/sweep.py --config=configs/tables/coldstart.py:ml100k \
#   --method=finetune --workdir=W "--config.sweep.inner_steps=(1,5,10)"
# 48 configurations (inner_lr 0.02/0.05/0.1/0.2 x outer_lr 3e-4/1e-3 x
# weight_decay 0/0.01 x inner_steps 1/5/10), 194 s on 2 cores, partly shared
# with another run; validation MAE 0.6856 vs 0.6961 for the shared values.
# -> results/sweeps/finetune_ml100k.json
_FINETUNE_ML100K = {"inner_lr": 0.1, "inner_steps": 5, "outer_lr": 0.001,
                    "weight_decay": 0.01, "num_steps": 175,
                    "model": {"embed_dim": 32, "item_id_dropout": 0.2}}

# METAREC_ML1M_DIR=... python scripts/sweep.py \
#   --config=configs/tables/coldstart.py:ml1m --method=finetune --workdir=W \
#   "--config.sweep.inner_lr=(0.02,0.05,0.1,0.2)"
# 16 configurations (inner_lr 0.02/0.05/0.1/0.2 x outer_lr 3e-4/1e-3 x
# weight_decay 0/0.01; 5 inner steps), one vmapped group, 551 s on 2 cores;
# seed 0's validation MAE 0.7227 vs 0.7248 for the shared values; the best
# step is the last (1000), kept as the table's step count.
# -> results/sweeps/finetune_ml1m.json
_FINETUNE_ML1M = {"inner_lr": 0.1, "inner_steps": 5, "outer_lr": 0.001,
                  "weight_decay": 0.0, "num_steps": 1000,
                  "model": {"embed_dim": 32, "item_id_dropout": 0.2}}

TUNED = {
    "ml100k": {
        "finetune": _FINETUNE_ML100K,
        # The same model and training with text features: the finetune
        # sweep's values, not swept separately.
        "finetune_text": _FINETUNE_ML100K,
    },
    "ml1m": {
        "finetune": _FINETUNE_ML1M,
        "finetune_text": _FINETUNE_ML1M,  # Not swept separately.
    },
}
