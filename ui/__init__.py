"""Qt user interface (PySide6 + pyqtgraph), a client of the engine."""
