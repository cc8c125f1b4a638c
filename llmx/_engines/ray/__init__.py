"""The Ray engine (``llmx run --engine ray``): see :mod:`llmx._engines.ray.run`."""

from llmx._engines.ray.run import RayOptions, run_ray

__all__ = ["RayOptions", "run_ray"]
