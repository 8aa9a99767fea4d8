"""Write an experiment file with one region, append two frames, then SIGKILL itself (a killed writer).

Usage (from the repository root): python -m tests.storage.killed_frame_writer OUT.h5
"""

import os
import signal
import sys
from datetime import UTC, datetime

import numpy as np

from operando.roles.potentiostat import InstrumentInfo
from operando.storage import ExperimentFile
from tests.storage.test_rois import ROW, imaging_plan

if __name__ == "__main__":
    file = ExperimentFile.create(sys.argv[1], plan=imaging_plan(), start_utc=datetime(2024, 3, 1, tzinfo=UTC),
                                 instruments={"potentiostat": InstrumentInfo("VMP-300", "1", "1", "x")})
    for k in range(2):
        file.append_frame("wide", np.full((2, 384, 512), k + 1, np.uint16), None, {**ROW, "index": k})
        file.flush()
    file.rois["wide"].frames.resize(3, axis=0)  # killed half-way through the third frame
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)
