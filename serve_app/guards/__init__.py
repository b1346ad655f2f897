"""The front door: what every request passes before routing (``FrontDoor``), and its
settings (``FrontDoorArgs``)."""

from __future__ import annotations

from serve_app.guards.checks import FrontDoorArgs
from serve_app.guards.door import FrontDoor

__all__ = ["FrontDoor", "FrontDoorArgs"]
