"""The CZEMApi seam: the Python shape of SmartSEM's CZEMApi.ocx that the driver calls (see czemapi_seam.md).

Every method is blocking and returns SmartSEM's integer code first (0 = OK), exactly as pywin32 returns
by-ref tuples; nothing raises for a vendor error. Three things offer it: the in-process COM seam, the bridge
client, and the simulator's fake.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class CZEMApiSeam(Protocol):
    """SmartSEM's remote API, one blocking call per vendor method, codes returned not raised."""

    def Initialise(self, machine: str = "") -> int: ...

    def InitialiseRemoting(self) -> int: ...

    def ClosingControl(self) -> int: ...

    def Get(self, name: str, as_string: bool = False) -> tuple[int, float | str]: ...

    def Set(self, name: str, value: float | str) -> int: ...

    def Execute(self, command: str) -> int: ...

    def GetLimits(self, name: str) -> tuple[int, float, float]: ...

    def GetStagePosition(self) -> tuple[int, float, float, float, float, float, float]: ...

    def MoveStage(self, x: float, y: float, z: float, t: float, r: float, m: float) -> int: ...

    def Grab(self, x: int, y: int, w: int, h: int, reduction: int, filename: str) -> int: ...


# The methods the bridge serves: nothing else of a seam object is reachable over the network.
SEAM_METHODS: frozenset[str] = frozenset({
    "Initialise", "InitialiseRemoting", "ClosingControl", "Get", "Set", "Execute", "GetLimits",
    "GetStagePosition", "MoveStage", "Grab",
})
