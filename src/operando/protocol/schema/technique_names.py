"""The techniques a protocol names: canonical name, EC-Lab label, and the other names a researcher may type."""

from __future__ import annotations

# Canonical technique name -> EC-Lab label, and the other names a researcher may type for it.
TECHNIQUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "rest": ("OCV", ("ocv", "open_circuit", "relax")),
    "constant_current": ("CP", ("cp", "cc", "galvanostatic", "chronopotentiometry")),
    "constant_voltage": ("CA", ("ca", "hold", "potentiostatic", "chronoamperometry")),
    "cccv": ("GCPL", ("gcpl", "cc-cv", "cc_cv", "galvanostatic_cycling")),
    "cyclic_voltammetry": ("CV", ("cv", "voltammetry")),
    "peis": ("PEIS", ("eis", "impedance")),
    "gitt": ("GITT", ()),
    "loop": ("LOOP", ("repeat",)),
}
_ALIASES = {
    alias: name for name, (label, aliases) in TECHNIQUES.items() for alias in (name, label.lower(), *aliases)
}


def canonical_technique(name: object) -> str | None:
    """The canonical technique name for what was typed ("OCV" -> "rest", "GCPL" -> "cccv"), or None."""
    if not isinstance(name, str):
        return None
    return _ALIASES.get(name.strip().lower().replace(" ", "_"))


def technique_names() -> str:
    """Every technique with its EC-Lab label, for error messages."""
    return ", ".join(f"{name} [{label}]" for name, (label, _) in TECHNIQUES.items())
