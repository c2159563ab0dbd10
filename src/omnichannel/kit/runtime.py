"""The runtime: what every service and job needs, built once at startup and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from omnichannel.config import Settings
from omnichannel.kit.bus import Bus
from omnichannel.kit.clock import Clock, SystemClock
from omnichannel.kit.db import Database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    bus: Bus = field(default_factory=Bus)
