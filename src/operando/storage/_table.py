"""A table in HDF5: a group of resizable 1-D datasets of equal length, appended together (SWMR-safe)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import h5py
import numpy as np

BLANK_WINDOW = 64  # last rows of a table checked for rows left blank by a failed flush


def written_rows(columns: Sequence[np.ndarray], length: int) -> int:
    """``length`` less the trailing rows in which every column holds the fill value (0 or empty): rows whose
    extent a writer flushed but whose values it could not (a disk that filled mid-flush). A first row is kept:
    only a row after a written one can be told apart."""
    if length <= 1 or not columns:
        return length
    blank = np.ones(len(columns[0]), bool)
    for values in columns:
        blank &= (values == b"") if values.dtype.kind == "S" else (values == 0)
    offset = length - len(blank)
    end = len(blank)
    while end > 0 and end + offset > 1 and blank[end - 1]:
        end -= 1
    return end + offset


@dataclass(frozen=True)
class Column:
    """One column: its dtype, its unit ("" for a pure number, "1" for a fraction) and what it holds."""

    name: str
    dtype: str
    unit: str
    description: str


class Table:
    """Columns of one group that grow together; create them before SWMR starts, then only append."""

    def __init__(self, group: h5py.Group, columns: Sequence[Column]) -> None:
        missing = [c.name for c in columns if c.name not in group]
        if missing:
            raise KeyError(f"{group.name}: missing column(s) {missing}; is this an operando file?")
        self.group = group
        self.columns = tuple(columns)
        self._datasets = {c.name: group[c.name] for c in columns}
        # After a crash columns may differ by the last, partly written batch: continue from the shortest, less
        # rows a failed flush left blank (looked for among the last BLANK_WINDOW).
        length = min(d.shape[0] for d in self._datasets.values())
        start = max(0, length - BLANK_WINDOW)
        self._length = written_rows([d[start:length] for d in self._datasets.values()], length)

    @classmethod
    def create(cls, parent: h5py.Group, name: str, columns: Sequence[Column], *, chunk_rows: int = 4096,
               compression: str | None = None) -> Table:
        group = parent.create_group(name)
        return cls.add_columns(group, columns, chunk_rows=chunk_rows, compression=compression)

    @classmethod
    def add_columns(cls, group: h5py.Group, columns: Sequence[Column], *, chunk_rows: int = 4096,
                    compression: str | None = None) -> Table:
        """Make the columns inside an existing group (which may hold other datasets too)."""
        for column in columns:
            dataset = group.create_dataset(column.name, shape=(0,), maxshape=(None,), dtype=column.dtype,
                                           chunks=(chunk_rows,), compression=compression)
            dataset.attrs["units"] = column.unit
            dataset.attrs["description"] = column.description
        return cls(group, columns)

    def __len__(self) -> int:
        return self._length

    def truncate(self, length: int | None = None) -> None:
        """Cut every column to ``length`` rows (default: the shortest), e.g. after a writer was killed."""
        length = self._length if length is None else length
        for dataset in self._datasets.values():
            if dataset.shape[0] != length:
                dataset.resize((length,))
        self._length = length

    def append(self, data: Mapping[str, np.ndarray | Sequence[object]]) -> None:
        """Append equal-length arrays, one per column (every column must be given)."""
        names = {c.name for c in self.columns}
        if set(data) != names:
            raise KeyError(f"{self.group.name}: append needs exactly {sorted(names)}, got {sorted(data)}")
        lengths = {name: len(values) for name, values in data.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{self.group.name}: columns of different lengths {lengths}")
        count = next(iter(lengths.values()))
        if count == 0:
            return
        start, end = self._length, self._length + count
        for column in self.columns:
            dataset = self._datasets[column.name]
            dataset.resize((end,))
            dataset[start:end] = np.asarray(data[column.name], dtype=dataset.dtype)
        self._length = end
