"""No temporary folder outlives a grab: every run used to leave an empty operando-zeiss-* folder behind (made at
connect, removed only by a disconnect that ran to its end), and the bridge one operando-bridge-* per start."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from operando.drivers.zeiss import BridgeClientSeam, FrameRejected, ZeissConfig, ZeissMicroscope
from operando.simulators.sem import FakeCZEMApi

from operando.clock import run_simulated
from tests.drivers.zeiss.helpers import TOKEN, running_bridge
from tests.drivers.zeiss.test_zeiss_driver import scene


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary-files folder of the test's own (tempfile.gettempdir() answers it on every thread)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _left(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir())


class WatchedSeam:
    """The fake SmartSEM, noting where each grab was written (and whether that folder existed), and able to
    raise inside Grab as a COM call can."""

    def __init__(self, fake: FakeCZEMApi) -> None:
        self.fake = fake
        self.written: list[Path] = []
        self.raise_in_grab = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, name)

    def Grab(self, x: int, y: int, w: int, h: int, reduction: int, filename: str) -> int:  # noqa: N802
        self.written.append(Path(filename))
        assert Path(filename).parent.is_dir()
        if self.raise_in_grab:
            raise OSError("the COM call failed mid-grab")
        return self.fake.Grab(x, y, w, h, reduction, filename)


def test_a_grab_folder_lives_only_as_long_as_its_grab_whatever_happens(temp_root: Path) -> None:
    async def main() -> WatchedSeam:
        loop = asyncio.get_running_loop()
        seam = WatchedSeam(FakeCZEMApi(loop.time, scene(), seed=7))
        sem = ZeissMicroscope(lambda: seam, ZeissConfig(grab_attempts=2))
        await sem.connect()
        assert _left(temp_root) == []  # connected, nothing grabbed yet: nothing on disk
        await sem.set_scan(frame_size=(512, 384), dwell=100e-9)
        await sem.select_detectors(["SE2", "ESB"])
        assert len(await sem.grab()) == 2
        assert _left(temp_root) == []
        seam.fake.faults.fail_grabs(2)  # API_E_GRAB_FAIL on both attempts
        with pytest.raises(FrameRejected):
            await sem.grab()
        assert _left(temp_root) == []
        seam.raise_in_grab = True
        with pytest.raises(OSError, match="mid-grab"):
            await sem.grab()
        # Never disconnected: as when a run ends before the driver's goodbye (killed, cancelled, failed).
        return seam

    seam = run_simulated(main())
    assert _left(temp_root) == []
    assert len(seam.written) == 5  # 2 detectors, 2 failed attempts, 1 raising
    for path in seam.written:
        assert path.parent.parent == temp_root and path.parent.name.startswith("operando-zeiss-")
        assert path.name.startswith("grab-")


def test_the_bridge_keeps_no_folder_either(temp_root: Path) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=11)
        with running_bridge(lambda: fake) as server:
            assert _left(temp_root) == []  # a serving bridge holds no folder
            sem = ZeissMicroscope(lambda: BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=20))
            await sem.connect()
            await sem.set_scan(frame_size=(512, 384), dwell=100e-9)
            await sem.grab()
            assert _left(temp_root) == []
            await sem.disconnect()
        assert fake.grabs, "the grab went through the bridge"

    run_simulated(main())
    assert _left(temp_root) == []
