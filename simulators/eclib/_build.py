"""Loaded technique parameters -> the program a channel runs (the .ecc semantics the fake EClib emulates)."""

from __future__ import annotations

from typing import Any

from operando.simulators.cell import Reading
from operando.simulators.eclib import _rows
from operando.simulators.eclib._programs import CvProgram, DcProgram, DcStep, Emit, PeisProgram, Program, Test

# Scan_Rate is read as mV/s (PyExpLabSys, kbio users; easy-biologic says V/s): an open question on real units.
SCAN_RATE_UNIT = 1e-3  # V/s per unit


def build_program(name: str, values: dict[str, list[Any]], start: Reading, emit: Emit, premium: bool,
                  time_base: float) -> Program:
    """The program of technique ``name`` ("ocv", "cplimit", ...) with ``values`` by label and index."""
    if name == "ocv":
        steps = [DcStep("rest", 0.0, values["Rest_time_T"][0])]
        return DcProgram(emit, start, steps, 0, values["Record_every_dT"][0],
                         values["Record_every_dE"][0], 0.0,
                         lambda t, r, cycle: _rows.ocv_row(premium, time_base, t, r.E_we))
    if name in ("cplimit", "calimit"):
        current = name == "cplimit"
        setpoints = values["Current_step" if current else "Voltage_step"]
        steps = []
        for n in range(values["Step_number"][0] + 1):
            setpoint = setpoints[n]
            if values["vs_initial"][n]:
                # Relative to the previous step's setpoint, or to the present value for the first one.
                reference = steps[-1].setpoint if steps else (0.0 if current else start.E_we)
                setpoint += reference
            tests = [Test.decode(values[f"Test{k}_Config"][n], values[f"Test{k}_Value"][n])
                     for k in (1, 2, 3)]
            steps.append(DcStep("current" if current else "voltage", setpoint, values["Duration_step"][n],
                                [test for test in tests if test is not None], values["Exit_Cond"][n]))
        return DcProgram(emit, start, steps, values["N_Cycles"][0], values["Record_every_dT"][0],
                         values["Record_every_dE"][0] if current else 0.0,
                         0.0 if current else values["Record_every_dI"][0],
                         lambda t, r, cycle: _rows.dc_row(time_base, t, r.E_we, r.I, cycle))
    if name == "cv":
        vertices = [v + (start.E_we if relative else 0.0)
                    for v, relative in zip(values["Voltage_step"], values["vs_initial"], strict=True)]
        rates = [rate * SCAN_RATE_UNIT for rate in values["Scan_Rate"]]

        def cv_row(t: float, applied: float, r: Reading, cycle: int) -> tuple[int, ...]:
            return _rows.cv_row(premium, time_base, t, applied, r.E_we, r.I, cycle)

        return CvProgram(emit, start, vertices, rates, values["N_Cycles"][0],
                         values["Record_every_dE"][0], cv_row)
    first = {label: entries[0] for label, entries in values.items()}
    level = first["Initial_Voltage_step"] + (start.E_we if first["vs_initial"] else 0.0)
    count = first["Frequency_number"]
    initial, final = first["Initial_frequency"], first["Final_frequency"]
    if count == 1:
        frequencies = [initial]
    elif first["sweep"]:
        frequencies = [initial + (final - initial) * k / (count - 1) for k in range(count)]
    else:
        frequencies = [initial * (final / initial) ** (k / (count - 1)) for k in range(count)]
    return PeisProgram(emit, start, level, first["Duration_step"], first["Record_every_dT"], frequencies,
                       first["Amplitude_Voltage"], first["Average_N_times"], first["Wait_for_steady"],
                       premium, time_base, first["I_Range"])

