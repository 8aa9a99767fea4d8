"""operando-fibsem: control and acquisition for operando FIB-SEM battery experiments."""

__version__ = "0.1.0"
