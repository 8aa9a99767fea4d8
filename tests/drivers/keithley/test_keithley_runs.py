"""Whole techniques on the dynamic simulated 2450 wired to the simulated cell, on simulated time.

Expectations come from the simulator's ground truth (the charge it passed through the cell, the cell's SOC and
current) and from hand arithmetic (15 uA for 1 h is 54 mC), never from the driver's own output replayed.
"""

import asyncio

import pytest
from operando.drivers.keithley import ComplianceReached, KeithleyConnectionLost
from operando.simulators.cell import CellParameters, SimulatedCell
from operando.simulators.keithley import SimulatedKeithley2450, SimulatedResourceManager, simulated_keithley

from operando.clock import run_simulated
from operando.roles.potentiostat import Point
from operando.techniques import ConstantCurrent, ConstantVoltage, Limit, OpenCircuit, Recording

HOUR = 3600.0


def plain_cell(**overrides: float) -> SimulatedCell:
    """The thesis cell without first-cycle losses, so every coulomb the source passes moves the SOC."""
    defaults = {"contact_loss": 0.0, "electrolyte_oxidation_rate": 0.0}
    params = {k: v for k, v in {**defaults, **overrides}.items() if k in CellParameters.__dataclass_fields__}
    return SimulatedCell(CellParameters(**params), seed=5)


async def collect(driver, poll: float = 60.0) -> list[Point]:  # noqa: ANN001
    points: list[Point] = []
    while True:
        readout = await driver.read()
        points.extend(readout.points)
        if not readout.running:
            return points
        await asyncio.sleep(poll)


def test_one_hour_at_15_uA_passes_54_mC() -> None:
    async def main() -> None:
        cell = plain_cell()
        driver, instrument = simulated_keithley(
            cell, sample_interval=10.0, voltage_limit=4.4, current_limit=1e-3
        )
        await driver.connect()
        soc_before = cell.soc
        await driver.start(ConstantCurrent(15e-6, HOUR, recording=Recording(dt=60.0)))
        points = await collect(driver)
        assert points[-1].t_device == pytest.approx(HOUR)
        assert len(points) == 61  # t = 0, 60, ..., 3600 s
        # 15 uA x 3600 s = 54 mC, counted by the driver and passed by the instrument (its own aperture aside).
        assert driver._run.charge == pytest.approx(0.054, rel=2e-4)
        assert instrument.charge_delivered == pytest.approx(0.054, rel=2e-4)
        assert cell.soc - soc_before == pytest.approx(0.054 / cell.capacity, rel=2e-4)
        assert not instrument.output_on  # off the moment the technique ended
        await driver.disconnect()

    run_simulated(main())


def test_cc_then_cv_counts_the_charge_the_cell_received() -> None:
    async def main() -> None:
        cell = plain_cell()
        driver, instrument = simulated_keithley(
            cell, sample_interval=10.0, voltage_limit=4.4, current_limit=1e-3
        )
        await driver.connect()
        await driver.start(ConstantCurrent(1.5e-4, 40 * HOUR, limits=(Limit("E_we", ">", 3.68),)))
        charge_points = await collect(driver)
        cc_charge = driver._run.charge
        assert charge_points[-1].E_we > 3.68 and charge_points[-2].E_we <= 3.68 + 1e-3
        await driver.start(ConstantVoltage(3.68, 10 * HOUR, limits=(Limit("abs_I", "<", 3e-5),)))
        hold_points = await collect(driver)
        hold_charge = driver._run.charge
        assert abs(hold_points[-1].I) < 3e-5 <= abs(hold_points[-2].I)
        assert all(abs(p.E_we - 3.68) < 1e-3 for p in hold_points)  # the source readback holds the voltage
        assert cc_charge + hold_charge == pytest.approx(instrument.charge_delivered, rel=2e-3)
        assert cc_charge + hold_charge == pytest.approx(cell.soc * cell.capacity, rel=2e-3)
        await driver.disconnect()

    run_simulated(main())


def test_open_circuit_draws_no_current_and_the_safe_state_disconnects_the_cell() -> None:
    async def main() -> None:
        cell = plain_cell(initial_soc=0.5)
        driver, instrument = simulated_keithley(
            cell, sample_interval=30.0, voltage_limit=4.4, current_limit=1e-3
        )
        await driver.connect()
        await driver.start(OpenCircuit(2 * HOUR, recording=Recording(dt=600.0)))
        points = await collect(driver, poll=600.0)
        assert len(points) == 13 and all(abs(p.I) < 1e-8 for p in points)
        assert points[-1].E_we == pytest.approx(cell.voltage, abs=5e-4)  # noise 50 uV
        await driver.safe_state()
        await asyncio.sleep(10 * HOUR)
        instrument.advance()
        # Output off in high impedance: ten hours later the cell still holds its charge. A "normal" off state
        # would have held 0 V across it and emptied it.
        assert instrument.off_mode == {"CURR": "HIMP", "VOLT": "HIMP"}
        assert cell.soc == pytest.approx(0.5, abs=1e-9)
        await driver.disconnect()

    run_simulated(main())


def test_the_voltage_clamp_stops_the_run_with_an_instrument_error() -> None:
    async def main() -> None:
        cell = plain_cell()
        # The clamp (3.7 V) sits below the technique's own limit (3.9 V): the hardware acts first.
        driver, instrument = simulated_keithley(
            cell, sample_interval=10.0, voltage_limit=3.7, current_limit=1e-3
        )
        await driver.connect()
        await driver.start(ConstantCurrent(1.5e-4, 40 * HOUR, limits=(Limit("E_we", ">", 3.9),)))
        with pytest.raises(ComplianceReached, match="voltage_limit 3.7 V"):
            await collect(driver)
        assert not instrument.output_on
        assert cell.voltage < 3.7 + 5e-3  # clamped within a few mV
        await driver.disconnect()

    run_simulated(main())


def test_an_unplugged_instrument_is_reported_and_the_output_is_off_once_it_is_back() -> None:
    async def main() -> None:
        cell = plain_cell()
        driver, instrument = simulated_keithley(
            cell, sample_interval=10.0, voltage_limit=4.4, current_limit=1e-3
        )
        await driver.connect()
        await driver.start(ConstantCurrent(15e-6, 10 * HOUR))
        await asyncio.sleep(100.0)
        instrument.unplug()
        await asyncio.sleep(20.0)
        with pytest.raises(KeithleyConnectionLost):
            await collect(driver)
        assert instrument.output_on  # nobody could reach it
        instrument.plug_in()
        await driver.safe_state()  # reopens the session and turns the output off
        assert not instrument.output_on
        await driver.disconnect()

    run_simulated(main())


def test_a_wrong_resource_name_lists_what_is_there_and_leaves_nothing_open() -> None:
    async def main() -> None:
        cell = plain_cell()
        loop = asyncio.get_running_loop()
        instrument = SimulatedKeithley2450(cell, loop.time)
        manager = SimulatedResourceManager({"USB0::0x05E6::0x2450::04512345::INSTR": instrument})
        from operando.drivers.keithley import Keithley2450, KeithleyError

        driver = Keithley2450("USB0::0x05E6::0x2450::99999999::INSTR", resource_manager=lambda: manager)
        with pytest.raises(
            KeithleyError,
            match="no instrument at VISA resource .*resources present: USB0::0x05E6::0x2450::04512345::INSTR",
        ):
            await driver.connect()
        assert driver._thread is None and not manager.sessions

    run_simulated(main())
