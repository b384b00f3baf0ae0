"""regseg: the science of RegSeg (models, data, losses, schedules, metrics, training engine).

Never imports ``orchestrator`` or ``reports``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["TrainConfig", "__version__"]


def __getattr__(name: str):
    # Lazy so `import regseg` stays cheap (the CLI imports it before every command).
    if name == "TrainConfig":
        from regseg.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'regseg' has no attribute {name!r}")
