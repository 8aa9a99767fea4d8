"""SmartSEM's return-code table, the typed errors, and the scan-rate / frame-store conversions."""

from __future__ import annotations

import math

import pytest
from operando.drivers.zeiss.config import (
    IMAGE_STORES,
    ZeissConfig,
    dwell_of_scan_rate,
    parse_scan_rate_label,
    parse_store_label,
    scan_rate_for_dwell,
)
from operando.drivers.zeiss.errors import (
    API_ERRORS,
    GrabFailed,
    NotInitialised,
    OutsideLimits,
    RemotingLost,
    SmartSEMError,
    UnknownName,
    check,
    error_for,
)

from operando.errors import InstrumentConnectionLost, InstrumentError


def test_table_has_every_code_smartsem_documents() -> None:
    # 1000..1032 and 2027..2031, as in SerialFIB's SEM_API and the two C# projects.
    assert sorted(API_ERRORS) == list(range(1000, 1033)) + list(range(2027, 2032))
    assert all(name.startswith("API_E_") for name, _ in API_ERRORS.values())
    assert API_ERRORS[1016][0] == "API_E_GRAB_FAIL"
    assert API_ERRORS[2030][0] == "API_E_REMOTING_EMSERVER_NOT_RUNNING"


@pytest.mark.parametrize(("code", "kind", "name"), [
    (1000, UnknownName, "API_E_GET_TRANSLATE_FAIL"),
    (1004, UnknownName, "API_E_SET_TRANSLATE_FAIL"),
    (1011, UnknownName, "API_E_EXEC_TRANSLATE_FAIL"),
    (1007, OutsideLimits, "API_E_SET_FLOAT_LIMIT_LOW"),
    (1008, OutsideLimits, "API_E_SET_FLOAT_LIMIT_HIGH"),
    (1016, GrabFailed, "API_E_GRAB_FAIL"),
    (1019, NotInitialised, "API_E_NOT_INITIALISED"),
    (2028, RemotingLost, "API_E_REMOTING_FAILED_TO_CONNECT"),
    (1012, SmartSEMError, "API_E_EXEC_CMD_FAIL"),
])
def test_codes_become_typed_errors_with_code_name_and_call(code, kind, name) -> None:
    with pytest.raises(kind) as caught:
        check(code, "Set('AP_MANUALKV', 40000.0)")
    error = caught.value
    assert type(error) is kind and isinstance(error, InstrumentError)
    assert (error.code, error.name) == (code, name)
    assert "Set('AP_MANUALKV', 40000.0)" in str(error) and name in str(error) and str(code) in str(error)


def test_remoting_codes_are_connection_losses_and_unknown_codes_still_name_themselves() -> None:
    assert isinstance(error_for(2030, "Get('AP_WD')"), InstrumentConnectionLost)
    odd = error_for(4242, "Execute('CMD_X')")
    assert type(odd) is SmartSEMError and odd.name == "API_E_UNKNOWN_4242" and odd.code == 4242
    check(0, "anything")  # OK raises nothing


@pytest.mark.parametrize(("dwell", "rate"), [
    (50e-9, 0), (100e-9, 1), (0.8e-6, 4), (1.0e-6, 4),  # log2(20) = 4.32 -> 4
    (1.2e-6, 5),  # log2(24) = 4.58 -> 5 (1.6 us)
    (12.8e-6, 8), (40e-9, 0),  # log2(0.8) = -0.32: still nearest to 50 ns
    (1.6384e-3, 15),
])
def test_dwell_goes_to_the_nearest_scan_rate(dwell, rate) -> None:
    assert scan_rate_for_dwell(dwell, 15) == rate
    assert dwell_of_scan_rate(rate) == pytest.approx(50e-9 * 2**rate)


@pytest.mark.parametrize("dwell", [30e-9, 3e-3, 0.0, -1e-6, math.nan, math.inf])
def test_dwell_out_of_reach_is_refused(dwell) -> None:
    assert scan_rate_for_dwell(dwell, 15) is None


def test_max_scan_rate_of_the_config_bounds_the_dwell() -> None:
    assert scan_rate_for_dwell(12.8e-6, 8) == 8
    assert scan_rate_for_dwell(51.2e-6, 8) is None  # n = 10 exists on the microscope but not in this config


def test_labels_parse_and_the_store_table_matches_the_merlin_list() -> None:
    assert parse_store_label("2048 * 1536") == (2048, 1536)
    assert parse_scan_rate_label("5") == 5 and parse_scan_rate_label("Scan Rate 11") == 11
    assert parse_scan_rate_label(3.0) == 3
    with pytest.raises(ValueError, match="W \\* H"):
        parse_store_label("big")
    assert IMAGE_STORES[2] == (2048, 1536) and IMAGE_STORES[4] == (4096, 3072) and 5 not in IMAGE_STORES


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="beam_shift_full_scale"):
        ZeissConfig(beam_shift_full_scale=0.0)
    with pytest.raises(ValueError, match="grab_attempts"):
        ZeissConfig(grab_attempts=0)
