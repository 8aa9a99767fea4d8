"""EClib return codes: the vendor's names and texts, and the typed exceptions a code becomes."""

from __future__ import annotations

from operando.errors import InstrumentConnectionLost, InstrumentError

INSTRUMENT = "BioLogic"

# code -> (vendor name, vendor description); kbio_types.ERROR and the development package's messages.
ERROR_CODES: dict[int, tuple[str, str]] = {
    0: ("NOERROR", "No error"),
    -1: ("GEN_NOTCONNECTED", "No instrument connected"),
    -2: ("GEN_CONNECTIONINPROGRESS", "Connection in progress"),
    -3: ("GEN_CHANNELNOTPLUGGED", "Selected channel(s) unplugged"),
    -4: ("GEN_INVALIDPARAMETERS", "Invalid function parameters"),
    -5: ("GEN_FILENOTEXISTS", "Selected file does not exist"),
    -6: ("GEN_FUNCTIONFAILED", "Function failed"),
    -7: ("GEN_NOCHANNELSELECTED", "No channel selected"),
    -8: ("GEN_INVALIDCONF", "Invalid instrument configuration"),
    -9: ("GEN_ECLAB_LOADED", "EC-Lab firmware loaded on the instrument"),
    -10: ("GEN_LIBNOTCORRECTLYLOADED", "Library not correctly loaded in memory"),
    -11: ("GEN_USBLIBRARYERROR", "USB library not correctly loaded in memory"),
    -12: ("GEN_FUNCTIONINPROGRESS", "Function already in progress"),
    -13: ("GEN_CHANNEL_RUNNING", "Selected channel(s) already used"),
    -14: ("GEN_DEVICE_NOTALLOWED", "Device not allowed"),
    -15: ("GEN_UPDATEPARAMETERS", "Invalid update function parameters"),
    -101: ("INSTR_VMEERROR", "Internal instrument communication failed"),
    -102: ("INSTR_TOOMANYDATA", "Too many data to transfer from the instrument (device error)"),
    -103: ("INSTR_RESPNOTPOSSIBLE", "Selected channel(s) unplugged (device error)"),
    -104: ("INSTR_RESPERROR", "Instrument response error"),
    -105: ("INSTR_MSGSIZEERROR", "Invalid message size"),
    -200: ("COMM_COMMFAILED", "Communication failed with the instrument"),
    -201: ("COMM_CONNECTIONFAILED", "Cannot establish connection with the instrument"),
    -202: ("COMM_WAITINGACK", "Waiting for the instrument response"),
    -203: ("COMM_INVALIDIPADDRESS", "Invalid IP address"),
    -204: ("COMM_ALLOCMEMFAILED", "Cannot allocate memory in the instrument"),
    -205: ("COMM_LOADFIRMWAREFAILED", "Cannot load firmware into selected channel(s)"),
    -206: ("COMM_INCOMPATIBLESERVER", "Communication firmware not compatible"),
    -207: ("COMM_MAXCONNREACHED", "Maximum number of allowed connections reached"),
    -300: ("FIRM_FIRMFILENOTEXISTS", "Cannot find kernel.bin file"),
    -301: ("FIRM_FIRMFILEACCESSFAILED", "Cannot read kernel.bin file"),
    -302: ("FIRM_FIRMINVALIDFILE", "Invalid kernel.bin file"),
    -303: ("FIRM_FIRMLOADINGFAILED", "Cannot load kernel.bin on the selected channel(s)"),
    -304: ("FIRM_XILFILENOTEXISTS", "Cannot find FPGA file"),
    -305: ("FIRM_XILFILEACCESSFAILED", "Cannot read FPGA file"),
    -306: ("FIRM_XILINVALIDFILE", "Invalid FPGA file"),
    -307: ("FIRM_XILLOADINGFAILED", "Cannot load FPGA file on the selected channel(s)"),
    -308: ("FIRM_FIRMWARENOTLOADED", "No firmware loaded on the selected channel(s)"),
    -309: ("FIRM_FIRMWAREINCOMPATIBLE", "Loaded firmware not compatible with the library"),
    -400: ("TECH_ECCFILENOTEXISTS", "Cannot find the selected ECC file"),
    -401: ("TECH_INCOMPATIBLEECC", "ECC file not compatible with the channel firmware"),
    -402: ("TECH_ECCFILECORRUPTED", "ECC file corrupted"),
    -403: ("TECH_LOADTECHNIQUEFAILED", "Cannot load the ECC file"),
    -404: ("TECH_DATACORRUPTED", "Data returned by the instrument are corrupted"),
    -405: ("TECH_MEMFULL", "Cannot load techniques: full memory"),
    1: ("OPT_CHANGE", "Number of options changed"),
    2: ("OPT_OPEN_IN", "Open-in signal was asserted"),
    3: ("OPT_IRCMP_OVR", "R compensation overflow"),
    100: ("OPT_4A_ERROR", "4A amplifier unknown error"),
    101: ("OPT_4A_OVERTEMP", "4A amplifier temperature overflow"),
    102: ("OPT_4A_BADPOWER", "4A amplifier bad power"),
    103: ("OPT_4A_POWERFAIL", "4A amplifier power fail"),
    200: ("OPT_48V_ERROR", "48V amplifier unknown error"),
    201: ("OPT_48V_OVERTEMP", "48V amplifier temperature overflow"),
    202: ("OPT_48V_BADPOWER", "48V amplifier bad power"),
    203: ("OPT_48V_POWERFAIL", "48V amplifier power fail"),
    300: ("OPT_10A5V_ERROR", "10A 5V amplifier error"),
    301: ("OPT_10A5V_OVERTEMP", "10A 5V amplifier overheat"),
    302: ("OPT_10A5V_BADPOWER", "10A 5V amplifier bad power"),
    303: ("OPT_10A5V_POWERFAIL", "10A 5V amplifier power fail"),
    600: ("OPT_1A48VP_ERROR", "1A48VP amplifier error"),
    601: ("OPT_1A48VP_OVERTEMP", "1A48VP amplifier overheat"),
    602: ("OPT_1A48VP_BADPOWER", "1A48VP amplifier bad power"),
    603: ("OPT_1A48VP_POWERFAIL", "1A48VP amplifier power fail"),
}

# The codes the driver acts on, by the vendor's names (kbio_types.ERROR).
NOERROR = 0
GEN_NOTCONNECTED = -1
GEN_CHANNELNOTPLUGGED = -3
FIRM_FIRMWARENOTLOADED = -308

# Codes worth the same call again after a short pause: the link hiccupped, the instrument is still there.
TRANSIENT_CODES = frozenset({-200, -202})
# Codes meaning the connection id is gone: reconnect before retrying.
CONNECTION_CODES = frozenset({-1, -200, -201, -202, -206, -207})


class BiologicError(InstrumentError):
    """EClib refused or failed a call; ``code`` and ``name`` are EClib's, ``call`` the BL_* function."""

    def __init__(self, message: str, *, code: int | None = None, name: str = "", call: str = "") -> None:
        self.call = call
        super().__init__(message, instrument=INSTRUMENT, code=code, name=name)


class BiologicConnectionLost(BiologicError, InstrumentConnectionLost):
    """The link to the potentiostat dropped or could not be made (-1, -200..-207)."""


class BiologicChannelBusy(BiologicError):
    """The channel already runs a technique (-13): stop it first, or another program (EC-Lab) owns it."""


class BiologicChannelChanged(BiologicError):
    """After a link outage the channel no longer holds the technique this driver started (reset, power cycle,
    another program loaded): what it did meanwhile is unknown."""


class BiologicParameterError(BiologicError):
    """EClib refused a parameter or a value (-4, -15), or a technique asks for what the device cannot do."""


class BiologicFirmwareError(BiologicError):
    """The channel's firmware is missing, foreign (EC-Lab's) or incompatible (-9, -205, -300..-309)."""


class BiologicTechniqueError(BiologicError):
    """A technique (.ecc) file is missing, for another board family, or failed to load (-400..-405)."""


class BiologicAmplifierError(BiologicError):
    """An amplifier or option reported a fault (positive codes)."""


def _class_for(code: int) -> type[BiologicError]:
    if code in CONNECTION_CODES:
        return BiologicConnectionLost
    if code == -13:
        return BiologicChannelBusy
    if code in (-4, -15):
        return BiologicParameterError
    if code in (-9, -205) or -309 <= code <= -300:
        return BiologicFirmwareError
    if -405 <= code <= -400:
        return BiologicTechniqueError
    if code > 0:
        return BiologicAmplifierError
    return BiologicError


def error_for(code: int, call: str, context: str = "") -> BiologicError:
    """The typed exception for EClib return ``code`` of ``call``, with the vendor's name and text."""
    name, description = ERROR_CODES.get(code, ("UNKNOWN_ERROR", "Unknown EClib error code"))
    where = f" ({context})" if context else ""
    return _class_for(code)(f"{call} failed{where}: {description}", code=code, name=name, call=call)


def check(code: int, call: str, context: str = "") -> None:
    """Raise the typed exception for a non-zero EClib return ``code`` of ``call``."""
    if code != 0:
        raise error_for(code, call, context)
