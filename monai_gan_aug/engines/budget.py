"""Stop training cleanly after a wall-time budget (CPU runs sized in minutes, not epochs)."""

from __future__ import annotations

import time

from ignite.engine import Engine, Events

from ..errors import ConfigError

__all__ = ["TimeBudget"]


class TimeBudget:
    """Ignite handler: terminate the engine once ``minutes`` of wall time have passed.

    Termination fires Ignite's ``COMPLETED`` event, so final checkpoints and exported networks
    are still written. The clock starts when the run starts (a resumed run gets a new budget).

    Args:
        minutes: the budget; ``None`` or ``0`` disables the handler.
    """

    def __init__(self, minutes: float | None = None) -> None:
        if minutes is not None and minutes < 0:
            raise ConfigError(f"minutes must be >= 0 or None, got {minutes}")
        self.seconds = float(minutes) * 60 if minutes else None
        self.start: float | None = None

    def attach(self, engine: Engine) -> None:
        if self.seconds is None:
            return
        engine.add_event_handler(Events.STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._check)

    def _start(self, engine: Engine) -> None:
        self.start = time.monotonic()

    def _check(self, engine: Engine) -> None:
        if self.start is not None and time.monotonic() - self.start >= self.seconds:  # type: ignore[operator]
            engine.logger.info(f"time budget of {self.seconds / 60:.1f} min reached: stopping")
            engine.terminate()
