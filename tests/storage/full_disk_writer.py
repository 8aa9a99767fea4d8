"""Append frames and points through a FileWriter until a write fails, then finish as the engine does.

Usage (from the repository root): python -m tests.storage.full_disk_writer OUT.h5 MARGIN RESERVE
MARGIN and RESERVE are bytes; MARGIN "off" skips the free-space check, so the disk really fills (ENOSPC). Frame k
holds the value k + 1 in every pixel. Prints "error: <reason>" when the writer reports a failure, then
"frames_handed N"; exits 1 if a write failed (as the engine's failed run), 0 otherwise.
"""

import sys
import threading
import time
from datetime import UTC, datetime

import numpy as np

from operando.roles.potentiostat import InstrumentInfo
from operando.storage import ExperimentFile, FileWriter, SpaceGuard, exit_now
from tests.storage.test_rois import ROW, imaging_plan

if __name__ == "__main__":
    out, margin, reserve = sys.argv[1], sys.argv[2], int(sys.argv[3])
    space = SpaceGuard(out, margin=0 if margin == "off" else int(margin), reserve=reserve)
    space.prepare()
    if margin == "off":
        space.check = lambda needed, frame=0: None  # the disk fills for real: HDF5 meets ENOSPC
    file = ExperimentFile.create(out, plan=imaging_plan(), start_utc=datetime(2024, 3, 1, tzinfo=UTC),
                                 instruments={"potentiostat": InstrumentInfo("VMP-300", "1", "1", "x")})
    failed = threading.Event()
    writer = FileWriter(file, flush_interval=0.05, space=space, on_error=lambda error: failed.set())
    points = {"t": np.arange(10.0), "t_device": np.arange(10.0), "E_we": np.full(10, 3.7), "I": np.full(10, 1e-5),
              "Q": np.zeros(10), "soc": np.zeros(10), "cycle": np.zeros(10, "i4"), "step": np.zeros(10, "i4"),
              "technique": np.zeros(10, "u1")}
    handed = 0
    while not failed.is_set() and handed < 200:
        writer.submit("points", points)
        writer.submit("frame", {"region": "wide", "images": np.full((2, 384, 512), handed + 1, np.uint16),
                                "displacement": None, "row": {**ROW, "index": handed}})
        handed += 1
        deadline = time.monotonic() + 5
        while writer.pending and not failed.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
    if failed.is_set():
        print(f"error: {writer.error}", flush=True)
        try:
            writer.submit("events", [(1.0, "fault", {"message": str(writer.error)})])
            writer.submit("status", {"status": "failed", "end_utc": datetime(2024, 3, 2, tzinfo=UTC),
                                     "duration": 86400.0})
        except Exception as exc:  # noqa: BLE001 - a wedged writer refuses: as the engine, say so and go on
            print(f"refused: {exc}", flush=True)
    try:
        writer.close()
    except Exception as exc:  # noqa: BLE001
        print(f"not closed: {exc}", flush=True)
    print(f"frames_handed {handed}", flush=True)
    exit_now(1 if failed.is_set() else 0)
    sys.exit(1 if failed.is_set() else 0)
