"""What ``wsshm-rt serve`` was asked for: one dataclass, passed to uvicorn's worker processes as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from ..errors import WsshmError

ENV = "WSSHM_SERVE_CONFIG"


@dataclass
class ServeConfig:
    """model .. refine: as ``Matter``'s (tta and refine are the defaults of requests that do not name theirs).

    max_batch: requests matted in one engine call at most; max_wait_ms: how long a request waits for others of its
    size; max_bytes: the largest request body; max_pixels: the largest image (width x height) decoded.
    """

    model: str | None = None
    engine: str = "auto"
    device: str = "auto"
    threads: int | None = None
    short_side: int | None = None
    tta: str = "flip+scale"
    refine: str = "guided"
    max_batch: int = 8
    max_wait_ms: float = 10.0
    max_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 50_000_000

    def check(self) -> "ServeConfig":
        """Itself, or a WsshmError naming the first bad setting."""
        from ..tta import check_tta
        from ..refine import check_refine

        check_tta(self.tta)
        check_refine(self.refine)
        for name, low in (("max_batch", 1), ("max_bytes", 1), ("max_pixels", 64)):
            if getattr(self, name) < low:
                raise WsshmError(f"--{name.replace('_', '-')} must be at least {low}, not {getattr(self, name)}")
        if not self.max_wait_ms >= 0:
            raise WsshmError(f"--max-wait-ms must be 0 or more, not {self.max_wait_ms}")
        return self

    def matter_kwargs(self) -> dict:
        return dict(engine=self.engine, device=self.device, threads=self.threads, short_side=self.short_side,
                    tta=self.tta, refine=self.refine)

    def to_env(self) -> None:
        """Hand this config to the worker processes uvicorn starts (they read it with ``from_env``)."""
        os.environ[ENV] = json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServeConfig":
        return cls(**json.loads(os.environ.get(ENV, "{}")))
