"""The CZEMApi seam in process: SmartSEM's COM control (CZ.EMApiCtrl.1) through pywin32, on one STA thread.

Windows only. The module imports anywhere; making a ComSeam without Windows or pywin32 raises a clear error
that points at the bridge. COM objects belong to the apartment that made them, so the control is created on a
dedicated single-threaded-apartment thread and every call is marshalled onto it, whichever thread calls.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from operando.errors import InstrumentError

from .errors import INSTRUMENT

PROG_ID = "CZ.EMApiCtrl.1"
T = TypeVar("T")


def _pywin32() -> tuple[Any, Any]:
    """(win32com.client, pythoncom), or a clear error naming what is missing."""
    if sys.platform != "win32":
        raise InstrumentError("the in-process SmartSEM seam (COM) runs on Windows only; from this PC run "
                              "`operando bridge` on the SmartSEM PC and use BridgeClientSeam",
                              instrument=INSTRUMENT)
    try:
        import pythoncom  # type: ignore[import-not-found]
        import win32com.client  # type: ignore[import-not-found]
    except ImportError:
        raise InstrumentError("pywin32 is not installed: pip install operando-fibsem[windows]",
                              instrument=INSTRUMENT) from None
    return win32com.client, pythoncom


class ComSeam:
    """SmartSEM's CZEMApi.ocx as a CZEMApiSeam: blocking calls, codes returned as SmartSEM gives them."""

    def __init__(self, prog_id: str = PROG_ID) -> None:
        self._client, self._pythoncom = _pywin32()
        # One STA thread owns the control; CoInitialize there makes it single-threaded-apartment.
        self._sta = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smartsem-sta",
                                       initializer=self._pythoncom.CoInitialize)
        self._api = self._on_sta(self._client.Dispatch, prog_id)

    def _on_sta(self, function: Callable[..., T], *args: Any) -> T:
        return self._sta.submit(function, *args).result()

    def _variant(self, vartype: str, value: Any) -> Any:
        return self._client.VARIANT(getattr(self._pythoncom, vartype), value)

    def Initialise(self, machine: str = "") -> int:
        return int(self._on_sta(self._api.Initialise, machine))

    def InitialiseRemoting(self) -> int:
        return int(self._on_sta(self._api.InitialiseRemoting))

    def ClosingControl(self) -> int:
        try:
            return int(self._on_sta(self._api.ClosingControl))
        finally:
            self._sta.submit(self._pythoncom.CoUninitialize)
            self._sta.shutdown(wait=True)

    def Get(self, name: str, as_string: bool = False) -> tuple[int, float | str]:
        # The VARIANT type passed selects the answer: VT_R4 a number (AP_*), VT_BSTR a label or a display
        # string (SerialFIB's SEM_API does the same).
        text = as_string or not name.startswith("AP_")
        buffer = self._variant("VT_BSTR", "") if text else self._variant("VT_R4", 0.0)
        code, value = self._on_sta(self._api.Get, name, buffer)[:2]
        return int(code), (str(value) if text else float(value))

    def Set(self, name: str, value: float | str) -> int:
        if isinstance(value, str):
            variant = self._variant("VT_BSTR", value)
        else:
            variant = self._variant("VT_R4", float(value))
        returned = self._on_sta(self._api.Set, name, variant)
        return int(returned[0] if isinstance(returned, tuple) else returned)

    def Execute(self, command: str) -> int:
        return int(self._on_sta(self._api.Execute, command))

    def GetLimits(self, name: str) -> tuple[int, float, float]:
        code, low, high = self._on_sta(self._api.GetLimits, name, 0.0, 0.0)[:3]
        return int(code), float(low), float(high)

    def GetStagePosition(self) -> tuple[int, float, float, float, float, float, float]:
        code, *axes = self._on_sta(self._api.GetStagePosition, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)[:7]
        return (int(code), *(float(a) for a in axes))  # type: ignore[return-value]

    def MoveStage(self, x: float, y: float, z: float, t: float, r: float, m: float) -> int:
        return int(self._on_sta(self._api.MoveStage, x, y, z, t, r, m))

    def Grab(self, x: int, y: int, w: int, h: int, reduction: int, filename: str) -> int:
        return int(self._on_sta(self._api.Grab, x, y, w, h, reduction, filename))
