"""TIFF files as SmartSEM's Grab writes them: the image plus the CZ_SEM header in tag 34118.

The header is CRLF-separated text: a preamble of numbers, then (parameter name, "Label = value unit") pairs,
which is what ``tifffile.TiffFile(...).sem_metadata`` parses (SerialFIB reads the pair count on line 34).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tifffile

CZ_SEM_TAG = 34118
_PREAMBLE_LINES = 34


def cz_sem_header(pairs: Sequence[tuple[str, str]]) -> bytes:
    """Encode (parameter, 'Label = value') pairs as a CZ_SEM header (cp1252, like SmartSEM's 'µm')."""
    lines = ["0"] * _PREAMBLE_LINES + [str(len(pairs))]
    for name, text in pairs:
        if not name.isupper() or text.isupper():
            raise ValueError(f"CZ_SEM keys must be upper case and values not: {name!r}, {text!r}")
        lines += [name, text]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def write_grab(filename: str, image: np.ndarray, pairs: Sequence[tuple[str, str]]) -> None:
    """Write ``image`` (uint8 or uint16) to ``filename`` with the CZ_SEM header."""
    header = cz_sem_header(pairs)
    tifffile.imwrite(
        filename, image, photometric="minisblack", extratags=[(CZ_SEM_TAG, "B", len(header), header, True)]
    )
