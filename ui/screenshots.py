"""Screenshots of the main window for docs/gui.md, taken offscreen from a replayed file:
``python -m operando.ui.screenshots FILE.h5 [PROTOCOL.toml] --out docs/screenshots``."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def settle(app, seconds: float = 1.0) -> None:  # noqa: ANN001 - the QApplication
    from .workers import wait_idle

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wait_idle(200)
        app.processEvents()
        time.sleep(0.02)


def save(widget, path: Path) -> None:  # noqa: ANN001 - any QWidget
    widget.grab().save(str(path))
    print(path)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path, help="an experiment file to replay")
    parser.add_argument("protocol", type=Path, nargs="?", help="a protocol to show in the Protocol dock")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    from PySide6.QtCore import QSettings

    from .app import application
    from .main_window import MainWindow

    app = application()
    settings = QSettings(str(args.out / ".screenshots.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings)
    window.resize(1600, 1000)
    window.show()
    if args.protocol is not None:
        window.protocol.open(args.protocol)
    window.open_file(args.file)
    settle(app, 2.0)
    if window.messages:
        raise SystemExit(f"screenshots: {window.messages[-1]}")
    regions = [name for name, region in window.run.regions.items() if len(region.frames)]
    if regions:
        region = window.run.regions[regions[-1]]
        window.images.show_nearest(float(region.frames["t_mid"][len(region.frames) // 2]))
    settle(app, 1.5)
    args.out.mkdir(parents=True, exist_ok=True)
    window.docks["drift_dose"].raise_()  # tabbed with the events: the main window shows drift and dose
    settle(app, 0.5)
    shots = {"main-window.png": window, "electrochemistry.png": window.electrochem,
             "images.png": window.images, "protocol.png": window.protocol}
    for name, widget in shots.items():
        save(widget, args.out / name)
    # docked, drift and dose gets a strip too flat to read: float it at a readable size for its own shot
    drift_dose = window.docks["drift_dose"]
    drift_dose.setFloating(True)
    drift_dose.resize(1200, 700)
    drift_dose.show()
    settle(app, 0.5)
    save(window.drift_dose, args.out / "drift-dose.png")
    (args.out / ".screenshots.ini").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
