"""SmartSEM return codes (API_E_*) and the typed exceptions the Zeiss driver raises for them.

The table is the one SmartSEM's CZEMApi uses (see docs/drivers/zeiss.md); the seam never raises, the driver
turns every non-zero code into one of these exceptions carrying the vendor's code and name.
"""

from __future__ import annotations

from operando.errors import InstrumentConnectionLost, InstrumentError

INSTRUMENT = "Zeiss SmartSEM"

# The codes the driver acts on, by SmartSEM's names.
API_OK = 0
API_E_GRAB_FAIL = 1016
API_E_NOT_INITIALISED = 1019

# code -> (API_E_ name, what it means)
API_ERRORS: dict[int, tuple[str, str]] = {
    1000: ("API_E_GET_TRANSLATE_FAIL", "unknown parameter name"),
    1001: ("API_E_GET_AP_FAIL", "failed to get an analogue value"),
    1002: ("API_E_GET_DP_FAIL", "failed to get a digital value"),
    1003: ("API_E_GET_BAD_PARAMETER", "parameter is neither analogue nor digital"),
    1004: ("API_E_SET_TRANSLATE_FAIL", "unknown parameter name"),
    1005: ("API_E_SET_STATE_FAIL", "failed to set a digital state"),
    1006: ("API_E_SET_FLOAT_FAIL", "failed to set a float value"),
    1007: ("API_E_SET_FLOAT_LIMIT_LOW", "value below the parameter's limit"),
    1008: ("API_E_SET_FLOAT_LIMIT_HIGH", "value above the parameter's limit"),
    1009: ("API_E_SET_BAD_VALUE", "value of the wrong type"),
    1010: ("API_E_SET_BAD_PARAMETER", "parameter is neither analogue nor digital"),
    1011: ("API_E_EXEC_TRANSLATE_FAIL", "unknown command"),
    1012: ("API_E_EXEC_CMD_FAIL", "command failed"),
    1013: ("API_E_EXEC_MCF_FAIL", "file macro failed"),
    1014: ("API_E_EXEC_MCL_FAIL", "library macro failed"),
    1015: ("API_E_EXEC_BAD_COMMAND", "command not implemented"),
    1016: ("API_E_GRAB_FAIL", "grab failed"),
    1017: ("API_E_GET_STAGE_FAIL", "reading the stage position failed"),
    1018: ("API_E_MOVE_STAGE_FAIL", "stage move failed"),
    1019: ("API_E_NOT_INITIALISED", "API not initialised"),
    1020: ("API_E_NOTIFY_TRANSLATE_FAIL", "unknown parameter for notification"),
    1021: ("API_E_NOTIFY_SET_FAIL", "setting a notification failed"),
    1022: ("API_E_GET_LIMITS_FAIL", "reading the limits failed"),
    1023: ("API_E_GET_MULTI_FAIL", "reading several parameters failed"),
    1024: ("API_E_SET_MULTI_FAIL", "setting several parameters failed"),
    1025: ("API_E_NOT_LICENSED", "the remote API licence is missing"),
    1026: ("API_E_NOT_IMPLEMENTED", "reserved or not implemented"),
    1027: ("API_E_GET_USER_NAME_FAIL", "failed to get the user name (remoting)"),
    1028: ("API_E_GET_USER_IDLE_FAIL", "failed to get the user idle state (remoting)"),
    1029: ("API_E_GET_LAST_REMOTING_CONNECT_ERROR_FAIL", "failed to get the last remoting error (remoting)"),
    1030: ("API_E_EMSERVER_LOGON_FAILED", "logon to the EM Server failed (remoting)"),
    1031: ("API_E_EMSERVER_START_FAILED", "the EM Server failed to start (remoting)"),
    1032: ("API_E_PARAMETER_IS_DISABLED", "the parameter or command is disabled at the moment"),
    2027: ("API_E_REMOTING_NOT_CONFIGURED", "remoting is not configured (use Zeiss RConfigure)"),
    2028: ("API_E_REMOTING_FAILED_TO_CONNECT", "remoting did not connect to the EM Server"),
    2029: ("API_E_REMOTING_COULD_NOT_CREATE_INTERFACE", "remoting could not start"),
    2030: ("API_E_REMOTING_EMSERVER_NOT_RUNNING", "the remote EM Server is not running"),
    2031: ("API_E_REMOTING_NO_USER_LOGGED_IN", "the remote EM Server has no user logged in"),
}


class SmartSEMError(InstrumentError):
    """SmartSEM returned a non-zero code; ``code``, ``name`` (API_E_*) are its own, ``call`` what we sent."""

    def __init__(self, code: int, call: str) -> None:
        name, meaning = API_ERRORS.get(code, (f"API_E_UNKNOWN_{code}", "code not in SmartSEM's table"))
        self.call = call
        super().__init__(f"{call} failed: {meaning}", instrument=INSTRUMENT, code=code, name=name)


class UnknownName(SmartSEMError):
    """SmartSEM does not know this parameter or command (1000, 1004, 1011)."""


class OutsideLimits(SmartSEMError, ValueError):
    """SmartSEM refused a value below (1007) or above (1008) the parameter's limits."""


class ParameterDisabled(SmartSEMError):
    """The parameter or command is disabled at the moment (1032), e.g. during a run-up."""


class GrabFailed(SmartSEMError):
    """Grab returned API_E_GRAB_FAIL (1016)."""


class StageFailed(SmartSEMError):
    """Reading or moving the stage failed (1017, 1018)."""


class NotInitialised(SmartSEMError):
    """The API was used before Initialise/InitialiseRemoting succeeded (1019)."""


class NotLicensed(SmartSEMError):
    """The SmartSEM remote API licence is missing (1025)."""


class RemotingLost(SmartSEMError, InstrumentConnectionLost):
    """The remoting link to the EM Server is down or misconfigured (2027-2031)."""


_CLASSES: dict[int, type[SmartSEMError]] = {
    1000: UnknownName, 1004: UnknownName, 1011: UnknownName,
    1007: OutsideLimits, 1008: OutsideLimits,
    API_E_GRAB_FAIL: GrabFailed, 1017: StageFailed, 1018: StageFailed,
    API_E_NOT_INITIALISED: NotInitialised, 1025: NotLicensed, 1032: ParameterDisabled,
    **{code: RemotingLost for code in range(2027, 2032)},
}


def error_for(code: int, call: str) -> SmartSEMError:
    """The typed exception for SmartSEM's return ``code`` of ``call`` (e.g. "Set('AP_MANUALKV', 2000.0)")."""
    return _CLASSES.get(code, SmartSEMError)(code, call)


def check(code: int, call: str) -> None:
    """Raise the typed exception when ``code`` is not 0 (OK)."""
    if code != API_OK:
        raise error_for(int(code), call)


class FrameRejected(InstrumentError):
    """Every grab attempt gave a frame that failed the sanity checks (blank, stale or incomplete)."""

    def __init__(self, reason: str, attempts: int, *, code: int | None = None, name: str = "") -> None:
        self.reason = reason
        self.attempts = attempts
        # the last attempt's vendor code (API_E_GRAB_FAIL) travels on to the fault event; the reason has it in
        # words already, so the message does not repeat it
        super().__init__(f"frame rejected after {attempts} attempts: {reason}", instrument=INSTRUMENT)
        self.code, self.name = code, name


class StageTimeout(InstrumentError):
    """The stage stayed busy past the timeout; the move was aborted with CMD_STAGE_ABORT."""


class CallTimeout(InstrumentError):
    """A SmartSEM call did not return in time."""
