"""Protocol and rig files as editors write them: a UTF-8 byte-order mark is accepted, a binary file is refused
naming the byte, and GITT's max_pulses errors name max_pulses and the count given."""

from __future__ import annotations

from pathlib import Path

import pytest

from operando.errors import ProtocolError
from operando.protocol import load_protocol, loads_protocol, resolve
from operando.rigfile import RigError, load_rig
from tests.protocol.test_errors import GOOD

ROOT = Path(__file__).resolve().parents[2]
GITT = (ROOT / "examples" / "gitt_glass.toml").read_text()


def test_a_byte_order_mark_at_the_start_of_a_protocol_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    plan = resolve(load_protocol(path))
    assert plan.name == "test" and [step.label for step in plan.steps] == ["OCV", "GCPL", "GCPL"]
    assert resolve(loads_protocol("\ufeff" + GOOD)).name == "test"  # text handed over with its mark


def test_a_byte_order_mark_at_the_start_of_a_rig_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "rig.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (ROOT / "examples" / "rigs" / "simulated-biologic.toml").read_bytes())
    assert load_rig(path).potentiostat is not None


def test_a_binary_file_is_refused_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "image.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ProtocolError, match=r"file: not UTF-8 text \(byte 0x89 at offset 0\)"):
        load_protocol(path)
    with pytest.raises(RigError, match=r"file: not UTF-8 text \(byte 0x89 at offset 0\)"):
        load_rig(path)


def test_too_many_gitt_pulses_names_max_pulses_and_the_count_given() -> None:
    text = GITT.replace('molar_volume = "61.4 cm^3/mol"', 'molar_volume = "61.4 cm^3/mol"\nmax_pulses = 5000')
    with pytest.raises(ProtocolError) as caught:
        resolve(loads_protocol(text, source_path="gitt.toml"))
    assert [(path, value) for path, _, value in caught.value.problems] == [("steps[1].max_pulses", 5000)]
    assert "5000 pulse/rest pairs are more than 1000" in str(caught.value)


def test_pulses_too_short_for_the_capacity_name_the_pulse_and_the_count_needed() -> None:
    # 1 mg of glass at 467.8 mAh/g = 1684 C; D/20 = 23.39 uA; 1 s pulses: 1684 / 23.39e-6 = 72000 pulses,
    # times the planning margin (1.2): 86400
    text = GITT.replace('pulse = "10 min"', 'pulse = "1 s"')
    with pytest.raises(ProtocolError) as caught:
        resolve(loads_protocol(text, source_path="gitt.toml"))
    assert [path for path, _, _ in caught.value.problems] == ["steps[1].pulse"]
    assert "would need 86400 pulses" in str(caught.value)
