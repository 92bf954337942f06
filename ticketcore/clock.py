"""Time enters the core only through a Clock, so tests and jobs control it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]
