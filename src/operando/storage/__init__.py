"""One HDF5 file per experiment (docs/data-format.md): created whole, appended under SWMR, readable live."""

from operando.storage._file import FORMAT_VERSION, ExperimentFile, Section, repair_killed_file
from operando.storage._layout import ELECTROCHEM, EVENTS, IMPEDANCE, PAUSE_LABEL, technique_labels
from operando.storage._open import UnreadableFile, check_whole, is_damage, open_to_read, reading
from operando.storage._rig_state import RIG_STATE, create_rig_state, read_rig_state
from operando.storage._rois import (
    DISPLACEMENT_CELL,
    displacement_grid,
    frame_bytes,
    trigger_labels,
)
from operando.storage._space import SpaceGuard, StorageError, is_disk_full
from operando.storage._table import Column, Table
from operando.storage._unclosed import exit_now, unclosed_files
from operando.storage._writer import FileWriter
from operando.storage.frame_record import EC_SOURCES, FRAME_TABLE, FrameRecord, column
from operando.storage.reader import ExperimentRecord, RegionRecord, read_experiment, read_frames

__all__ = [
    "Column", "DISPLACEMENT_CELL", "EC_SOURCES", "ELECTROCHEM", "EVENTS", "ExperimentFile", "ExperimentRecord",
    "FORMAT_VERSION", "FRAME_TABLE", "FileWriter", "FrameRecord", "IMPEDANCE", "PAUSE_LABEL", "RIG_STATE",
    "RegionRecord", "Section", "SpaceGuard", "StorageError", "Table", "UnreadableFile", "check_whole", "column",
    "create_rig_state", "displacement_grid", "exit_now", "frame_bytes", "is_damage", "is_disk_full", "open_to_read",
    "read_experiment", "read_frames", "read_rig_state", "reading", "repair_killed_file", "technique_labels",
    "trigger_labels", "unclosed_files",
]
