"""Plans built by hand for engine and storage tests (no protocol parser): the thesis cell, SI units."""

from __future__ import annotations

from operando.plan import CellSummary, Plan, PlannedStep, SafetyLimits
from operando.techniques import ConstantCurrent, ConstantVoltage, Impedance, Limit, OpenCircuit, Recording

# NMC622, 276.6 mAh/g x 3.254 mg = 0.9 mAh = 3.24 C; 15 uA is about C/60 (thesis operando run).
CAPACITY = 276.6 * 3.6 * 3.254e-3
THESIS_CELL = CellSummary(
    name="thesis operando cell", material="NMC622", formula="LiNi0.6Mn0.2Co0.2O2", active_mass=3.254e-6,
    specific_capacity=276.6 * 3.6e3, capacity=CAPACITY, electrons=1, working_ion="Li",
    counter_electrode="Li-In", counter_potential=0.62,
)
SAFETY = SafetyLimits(E_min=1.0, E_max=4.2, I_max=1e-3, max_duration=200 * 3600.0)


def step(index: int, name: str, label: str, technique, **kwargs) -> PlannedStep:  # noqa: ANN001
    return PlannedStep(index=index, name=name, label=label, technique=technique, source=f"steps[{index}]",
                       **kwargs)


def plan(*steps: PlannedStep, safety: SafetyLimits = SAFETY, cell: CellSummary = THESIS_CELL,
         name: str = "test") -> Plan:
    return Plan(name=name, cell=cell, safety=safety, steps=tuple(steps), source_text="# built in a test\n")


def charge_hold_discharge(record_every: float = 60.0) -> Plan:
    """The thesis experiment: 15 uA to 3.68 V measured, hold until |I| < I0/5, 30 s rest, -15 uA to 2.08 V."""
    rec = Recording(dt=record_every)
    return plan(
        step(0, "rest", "OCV", OpenCircuit(duration=600.0, recording=rec)),
        step(1, "charge", "CP", ConstantCurrent(15e-6, 100 * 3600.0, (Limit("E_we", ">", 3.68),), rec)),
        step(2, "hold", "CA", ConstantVoltage(3.68, 50 * 3600.0, (), rec), relative_current_stop=0.2),
        step(3, "rest after charge", "OCV", OpenCircuit(duration=30.0, recording=Recording(dt=10.0))),
        step(4, "discharge", "CP", ConstantCurrent(-15e-6, 100 * 3600.0, (Limit("E_we", "<", 2.08),), rec),
             cycle=0),
        name="thesis",
    )


def impedance_step(index: int) -> PlannedStep:
    return step(index, "impedance", "PEIS", Impedance(1e5, 1.0, 4, 0.01))
