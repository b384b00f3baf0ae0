"""A tracking-server outage for the storm: a real ``mlflow server`` on 127.0.0.1 (the project's
MlflowServer) that is stopped some seconds into the storm and started again, on the same port
and store, a while later."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.tracking.server import MlflowServer


def tracking_server(root: Path) -> MlflowServer:
    """A server over ``<root>/tracking/server.db``, artifacts proxied to ``<root>/tracking``."""
    where = root / "tracking"
    where.mkdir(parents=True, exist_ok=True)
    return MlflowServer(backend_store_uri=f"sqlite:///{where / 'server.db'}",
                        artifacts_destination=where / "artifacts", log_path=where / "server.log")


@dataclass
class Outage:
    """Down from ``start`` seconds into the storm for ``seconds``; :meth:`tick` drives it."""

    server: MlflowServer
    start: float
    seconds: float
    stopped_at: float | None = None
    restarted_at: float | None = None
    events: list = field(default_factory=list)

    def tick(self, elapsed: float) -> None:
        if self.stopped_at is None and elapsed >= self.start:
            self.server.stop()
            self.stopped_at = elapsed
            self.events.append((round(elapsed, 1), "tracking server stopped"))
        elif (self.restarted_at is None and self.stopped_at is not None
              and elapsed >= self.stopped_at + self.seconds):
            self.server.start()
            self.restarted_at = elapsed
            self.events.append((round(elapsed, 1), "tracking server restarted"))

    @property
    def over(self) -> bool:
        return self.restarted_at is not None

    def figures(self) -> dict:
        down = (self.restarted_at - self.stopped_at) if self.over else None
        return {"tracking_down_s": round(down, 1) if down is not None else None,
                "tracking_down_at_s": self.stopped_at}
