"""Connection-level tests through pyvisa itself, on pyvisa-sim's static 2450 (simulators/keithley/*.yaml).

They exercise the real pyvisa resource manager, sessions, terminations and timeouts: connecting, the error
queue of an unknown command, an address with nothing behind it, a unit that never answers, a bad name.
"""

import asyncio
from pathlib import Path

import operando.simulators.keithley
import pytest
from operando.drivers.keithley import Keithley2450, KeithleyError, KeithleyNotAnswering

from operando.clock import run_simulated
from operando.techniques import OpenCircuit, Recording

YAML = Path(operando.simulators.keithley.__file__).with_name("keithley2450.yaml")
LIBRARY = f"{YAML}@sim"
GOOD = "USB0::0x05E6::0x2450::04512345::INSTR"


def test_connect_over_pyvisa_sim_and_take_a_first_reading() -> None:
    async def main() -> None:
        driver = Keithley2450(GOOD, visa_library=LIBRARY, timeout=0.5, voltage_limit=4.4)
        info = await driver.connect()
        assert (info.model, info.serial, info.firmware) == ("Keithley 2450", "04512345", "1.7.12b")
        await driver.start(OpenCircuit(3600.0, recording=Recording(dt=60.0)))
        readout = await driver.read()
        # The YAML's fixed reply: 3.012345 V measured, 1 pA source readback.
        assert [(p.t_device, p.E_we, p.I) for p in readout.points] == [(0.0, 3.012345, 1e-12)]
        assert readout.running
        await driver.disconnect()

    run_simulated(main())


def test_a_command_the_instrument_does_not_know_comes_back_from_its_error_queue() -> None:
    async def main() -> None:
        driver = Keithley2450(GOOD, visa_library=LIBRARY, timeout=0.5, voltage_limit=4.4)
        await driver.connect()
        with pytest.raises(KeithleyError, match="refused a bogus command: Undefined header") as raised:
            await driver._call(driver._link.send, [":BOGUS:COMMAND 1"], "a bogus command")
        assert raised.value.code == -113
        await driver.disconnect()

    run_simulated(main())


@pytest.mark.filterwarnings("ignore:read string doesn't end with termination characters")
def test_an_address_with_nothing_behind_it_is_named() -> None:
    async def main() -> None:
        driver = Keithley2450("USB0::0x05E6::0x2450::00000001::INSTR", visa_library=LIBRARY, timeout=0.5)
        with pytest.raises(KeithleyError, match="empty answer to \\*IDN\\?.*check the resource name"):
            await driver.connect()
        assert driver._thread is None and not driver._link.is_open

    run_simulated(main())


def test_a_unit_that_never_answers_times_out_with_a_clear_error() -> None:
    async def main() -> None:
        driver = Keithley2450("USB0::0x05E6::0x2450::04599999::INSTR", visa_library=LIBRARY, timeout=0.2)
        with pytest.raises(KeithleyNotAnswering, match="no answer to '\\*IDN\\?' within 0.2 s"):
            await driver.connect()
        assert driver._thread is None and not driver._link.is_open

    run_simulated(main())


def test_a_malformed_resource_name_is_refused() -> None:
    async def main() -> None:
        driver = Keithley2450("USB0::not-a-number::INSTR", visa_library=LIBRARY, timeout=0.2)
        with pytest.raises(KeithleyError, match="is not a VISA resource name"):
            await driver.connect()

    run_simulated(main())


def test_a_missing_visa_library_is_named() -> None:
    async def main() -> None:
        driver = Keithley2450(GOOD, visa_library=str(YAML.with_name("absent.yaml")) + "@sim", timeout=0.2)
        with pytest.raises(KeithleyError, match="cannot load the VISA library"):
            await driver.connect()
        assert driver._thread is None

    run_simulated(main())


def test_no_vendor_call_blocks_the_event_loop() -> None:
    async def main() -> None:
        driver = Keithley2450("USB0::0x05E6::0x2450::04599999::INSTR", visa_library=LIBRARY, timeout=0.3)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        with pytest.raises(KeithleyNotAnswering):
            await driver.connect()
        ticker.cancel()
        assert ticks > 10  # the loop kept running while the thread waited 0.3 s for a reply

    run_simulated(main())
