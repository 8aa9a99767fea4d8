"""A fake EClib (BioLogic's DLL) over a simulated cell: the seam the real BioLogic driver runs on in tests."""

from operando.simulators.eclib._fake import DEVICES, FakeEClib, LoadedTechnique

__all__ = ["DEVICES", "FakeEClib", "LoadedTechnique"]
