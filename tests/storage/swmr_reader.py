"""Follow an experiment file while another process writes it (SWMR); print one JSON line per look.

Usage: python swmr_reader.py FILE.h5 DONE_MARKER. Stops after the look that follows the marker's creation.
"""

import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np


def main(path: Path, done: Path) -> None:
    deadline = time.monotonic() + 60.0
    while True:
        try:
            file = h5py.File(path, "r", libver="latest", swmr=True)
            break
        except (OSError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with file:
        group = file["entry/electrochem"]
        while True:
            finished = done.exists()
            for dataset in group.values():
                dataset.refresh()
            n = min(d.shape[0] for d in group.values())
            t, q = group["t"][:n], group["Q"][:n]
            look = {"n": int(n), "t_last": float(t[-1]) if n else None,
                    "monotonic": bool(np.all(np.diff(t) > 0)), "finite": bool(np.isfinite(q).all())}
            print(json.dumps(look), flush=True)
            if finished:
                return
            time.sleep(0.1)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
