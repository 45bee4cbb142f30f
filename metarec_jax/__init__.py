"""metarec_jax: meta-learning and transfer learning for cold-start recommendation in JAX."""

__version__ = "0.1.0"
