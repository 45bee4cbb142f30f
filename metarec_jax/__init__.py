"""metarec_jax: meta-learning for cold-start recommendation, in JAX.

Layers, each importing only those listed before it: core, text, data,
models, meta, evaluation, train, then serving and experiments (README.md,
"Architecture").
"""

__version__ = "0.2.0"
