"""Zeiss SmartSEM (Crossbeam, Merlin, Ultra): async driver over the CZEMApi seam, COM seam, bridge."""

from .bridge_client import BridgeClientSeam, BridgeRefused
from .com_seam import ComSeam
from .config import IMAGE_STORES, ZeissConfig
from .driver import ZeissMicroscope
from .errors import (
    API_ERRORS,
    CallTimeout,
    FrameRejected,
    GrabFailed,
    NotInitialised,
    OutsideLimits,
    RemotingLost,
    SmartSEMError,
    StageTimeout,
    UnknownName,
)
from .seam import SEAM_METHODS, CZEMApiSeam

__all__ = [
    "API_ERRORS", "IMAGE_STORES", "SEAM_METHODS", "BridgeClientSeam", "BridgeRefused", "CZEMApiSeam",
    "CallTimeout", "ComSeam", "FrameRejected", "GrabFailed", "NotInitialised", "OutsideLimits",
    "RemotingLost",     "SmartSEMError", "StageTimeout", "UnknownName", "ZeissConfig", "ZeissMicroscope",
]
