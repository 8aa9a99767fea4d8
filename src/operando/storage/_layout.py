"""The file layout's tables: names, dtypes and units of every column (documented in docs/data-format.md)."""

from __future__ import annotations

from operando.plan import Plan
from operando.storage._table import Column

ELECTROCHEM = (
    Column("t", "f8", "s", "experiment timeline: seconds since start_time"),
    Column("t_device", "f8", "s", "potentiostat clock: seconds since the step's technique started"),
    Column("E_we", "f8", "V", "working electrode potential as measured (vs the counter electrode)"),
    Column("I", "f8", "A", "current, positive = charge (oxidation of the working electrode)"),
    Column("Q", "f8", "C", "charge passed since start: trapezoid integral of I over t"),
    Column("soc", "f8", "1", "state of charge, initial_soc + Q / capacity (NaN without a capacity)"),
    Column("cycle", "i4", "", "cycle number (the plan's cycle plus the technique's own loop count)"),
    Column("step", "i4", "", "index of the planned step (see the steps attribute)"),
    Column("technique", "u1", "", "technique code: index into the technique_labels attribute"),
)

IMPEDANCE = (
    Column("run", "i4", "", "PEIS run number, from 0, in the order run"),
    Column("t", "f8", "s", "experiment timeline: seconds since start_time"),
    Column("frequency", "f8", "Hz", "excitation frequency"),
    Column("Z_re", "f8", "ohm", "real part of the impedance"),
    Column("Z_im", "f8", "ohm", "imaginary part of the impedance (EC-Lab plots -Im(Z))"),
    Column("E_dc", "f8", "V", "mean working electrode potential during the frequency"),
    Column("I_dc", "f8", "A", "mean current during the frequency"),
)

EVENT_KIND_LENGTH = 32
EVENT_PAYLOAD_LENGTH = 4096  # bytes of UTF-8 JSON; longer payloads are shortened (see storage._events)

EVENTS = (
    Column("t", "f8", "s", "experiment timeline: seconds since start_time"),
    Column("kind", f"S{EVENT_KIND_LENGTH}", "", "event kind, e.g. step_started, safety_tripped, fault"),
    Column("payload", f"S{EVENT_PAYLOAD_LENGTH}", "", "the event's fields as UTF-8 JSON"),
)


PAUSE_LABEL = "OCV (pause)"  # points recorded at open circuit while the run is paused


def technique_labels(plan: Plan) -> tuple[str, ...]:
    """The plan's technique labels in order of first use, then the pause label; a point's technique code
    indexes this tuple."""
    labels = (*dict.fromkeys(step.label for step in plan.steps if step.label != PAUSE_LABEL), PAUSE_LABEL)
    if len(labels) > 255:
        raise ValueError(f"plan {plan.name!r} uses {len(labels)} technique labels; a file holds at most 255")
    return labels
