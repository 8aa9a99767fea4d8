"""Exports of an experiment file for other tools: ImageJ/Fiji TIFF stacks, EC-Lab-like text (.csv, .mpt)."""

from operando.export.eclab import write_csv, write_frames_csv, write_mpt
from operando.export.tiff import write_tiff_stacks

__all__ = ["write_csv", "write_frames_csv", "write_mpt", "write_tiff_stacks"]
