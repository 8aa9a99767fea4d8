"""One HDF5 file per experiment (docs/data-format.md): created whole, appended under SWMR, readable live."""

from operando.storage._file import FORMAT_VERSION, ExperimentFile, Section
from operando.storage._layout import ELECTROCHEM, EVENTS, IMPEDANCE, technique_labels
from operando.storage._table import Column, Table
from operando.storage._writer import FileWriter
from operando.storage.reader import ExperimentRecord, read_experiment

__all__ = [
    "ELECTROCHEM", "EVENTS", "FORMAT_VERSION", "IMPEDANCE", "Column", "ExperimentFile", "ExperimentRecord",
    "FileWriter", "Section", "Table", "read_experiment", "technique_labels",
]
