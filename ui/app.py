"""Start the GUI: the QApplication, the main window, and a file (replay or protocol) or an engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication


def application() -> QApplication:
    """The process's QApplication (created once), with pyqtgraph set for row-major images and antialiasing."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background="w", foreground="k")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("operando")
    app.setApplicationName("operando-fibsem")
    return app  # type: ignore[return-value]


def main(file: Path | None = None, broker: str | None = None, rig: str | None = None) -> int:
    """``operando gui``: exit code 0 when the window is closed."""
    from .main_window import MainWindow

    app = application()
    window = MainWindow()
    window.show()
    if file is not None:
        if file.suffix.lower() == ".toml":
            window.protocol.open(file)
        else:
            window.open_file(file)
    if broker is not None:
        replayed = file if file is not None and file.suffix.lower() != ".toml" else None
        window.attach(broker, rig or "simulated", replayed)
    return int(app.exec())
