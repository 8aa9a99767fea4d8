"""Rig files: which installed driver fills each role of one set-up, as TOML, validated before anything moves.

```toml
name = "bench-2450"
poll_interval = "10 s"            # between the engine's reads of the potentiostat

[potentiostat]
driver = "keithley2450"           # an entry point of the "operando.drivers" group
resource = "USB0::0x05E6::0x2450::04512345::INSTR"

[sensors.cell_temperature]        # any number of sensors, each under its own name
driver = "serial_temperature"
port = "/dev/ttyUSB0"
interval = "10 s"                 # between readings
```

Drivers are found through entry points, so a lab's own driver package appears here once installed. The
object an entry point names is a :class:`Driver` (role, typed settings, the techniques it can run) or any
``factory(config: dict) -> instrument``. :func:`build` makes the instruments without connecting them; the
engine connects them and always leaves them safe.
"""

from __future__ import annotations

import inspect
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from operando.errors import OperandoError
from operando.plan import Plan
from operando.roles.microscope import Microscope
from operando.roles.potentiostat import Potentiostat
from operando.roles.sensor import Sensor
from operando.techniques import Technique
from operando.units import QuantityError, parse_quantity

GROUP = "operando.drivers"
ROLES = ("potentiostat", "microscope", "sensor")
_ROLE_TYPES: dict[str, type] = {"potentiostat": Potentiostat, "microscope": Microscope, "sensor": Sensor}
_TOP_LEVEL = {"name", "description", "poll_interval", "seed", "potentiostat", "microscope", "sensors"}
DEFAULT_POLL_INTERVAL = 1.0  # s
DEFAULT_SENSOR_INTERVAL = 10.0  # s
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")

Problem = tuple[str, str, object]


class RigError(OperandoError, ValueError):
    """A rig file (or a rig built from it) is wrong: ``problems`` lists (field path, message, bad value)."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__("\n".join(f"{where}{path}: {message}" + (f" (got {value!r})" if value is not None
                                                                   else "")
                                   for path, message, value in problems))


@dataclass(frozen=True)
class StatePart:
    """One part of a rig's saved state (a simulated cell, a fake instrument): how to take it and put it back."""

    snapshot: Callable[[], Any]  # -> JSON values
    restore: Callable[[Any], None]  # raises ValueError naming what does not fit
    required: bool = True  # a saved state without it is refused (else the part is left as built)


@dataclass
class RigContext:
    """What a driver may need beyond its settings: the plan (simulators model its cell), a seed, things the
    drivers of one rig share (one simulated cell), clean-ups to run when the rig closes, and the parts of a
    state the rig can save and put back (simulators: ``operando resume`` continues exactly)."""

    plan: Plan | None = None
    seed: int = 0
    shared: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Any]] = field(default_factory=list)
    state: dict[str, StatePart] = field(default_factory=dict)

    def on_close(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` (plain or async) when the rig closes, last registered first."""
        self.closers.append(callback)

    def keep_state(self, name: str, snapshot: Callable[[], Any], restore: Callable[[Any], None], *,
                   required: bool = True) -> None:
        """Save ``snapshot()`` as ``name`` with the rig's points, and give it to ``restore`` on resume."""
        self.state[name] = StatePart(snapshot, restore, required)

    async def close(self) -> None:
        while self.closers:
            result = self.closers.pop()()
            if inspect.isawaitable(result):
                await result


class Driver:
    """What a driver package registers: ``create(settings, context) -> instrument`` for one ``role``.

    ``settings`` is a pydantic model validating the driver's table (unknown keys refused, quantities parsed);
    ``supported_techniques`` lists the technique classes a potentiostat driver can run (None: all), so a plan
    it cannot run is refused before anything starts.
    """

    def __init__(self, create: Callable[[Any, RigContext], Any], *, role: str,
                 settings: type[BaseModel] | None = None,
                 supported_techniques: Iterable[type] | None = None, description: str = "") -> None:
        if role not in ROLES:
            raise ValueError(f"driver role must be one of {', '.join(ROLES)}, got {role!r}")
        self.create = create
        self.role = role
        self.settings = settings
        self.supported_techniques = (frozenset(supported_techniques) if supported_techniques is not None
                                     else None)
        self.description = description

    def validate(self, config: Mapping[str, Any], where: str = "") -> Any:
        """The settings model built from ``config``; problems name ``where.field``."""
        if self.settings is None:
            return dict(config)
        try:
            return self.settings.model_validate(dict(config))
        except ValidationError as exc:
            raise RigError(_problems(exc, where)) from None

    def runs(self, technique: Technique) -> bool:
        return self.supported_techniques is None or type(technique) in self.supported_techniques

    def __call__(self, config: Mapping[str, Any], context: RigContext | None = None) -> Any:
        return self.create(self.validate(config), context or RigContext())


def _problems(exc: ValidationError, where: str) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        path = ".".join([where, *(str(part) for part in error["loc"])]) if where else ".".join(
            str(part) for part in error["loc"])
        kind = error["type"]
        if kind == "missing":
            problems.append((path, "missing: this driver needs it", None))
        elif kind == "extra_forbidden":
            problems.append((path, "unknown setting for this driver (a typo?)", error.get("input")))
        else:
            message = error["msg"].removeprefix("Value error, ")
            problems.append((path, message, error.get("input")))
    return problems


def installed_drivers() -> dict[str, EntryPoint]:
    """Every driver installed in the ``operando.drivers`` entry point group, by name."""
    return {entry.name: entry for entry in entry_points(group=GROUP)}


def find_driver(name: str, where: str = "driver") -> Driver | Callable[..., Any]:
    """The object registered as driver ``name``; a clear error lists what is installed."""
    found = installed_drivers()
    if name not in found:
        known = ", ".join(sorted(found)) or "none (is operando-fibsem installed: pip install -e .?)"
        raise RigError([(where, f"no driver named {name!r} is installed; installed drivers: {known}", None)])
    try:
        return found[name].load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not look like a typo in the rig file
        raise RigError([(where, f"driver {name!r} ({found[name].value}) failed to load: "
                                f"{type(exc).__name__}: {exc}", None)]) from exc


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument of the rig: its table (``where``), role, driver name and settings as written."""

    where: str  # "potentiostat", "microscope", "sensors.cell_temperature"
    role: str
    driver: str
    config: dict[str, Any]
    settings: Any  # validated by the driver (a pydantic model), or the config itself for plain factories
    interval: float | None = None  # s between readings, sensors only

    @property
    def name(self) -> str:
        return self.where.removeprefix("sensors.")


@dataclass(frozen=True)
class RigSpec:
    """A validated rig file. ``text`` is kept for the experiment file."""

    name: str
    potentiostat: InstrumentSpec
    microscope: InstrumentSpec | None = None
    sensors: tuple[InstrumentSpec, ...] = ()
    poll_interval: float = DEFAULT_POLL_INTERVAL
    seed: int = 0
    description: str = ""
    text: str = ""
    path: str | None = None

    @property
    def instruments(self) -> tuple[InstrumentSpec, ...]:
        return (self.potentiostat, *(() if self.microscope is None else (self.microscope,)), *self.sensors)

    def to_config(self) -> dict[str, Any]:
        """What the experiment file records as the rig config."""
        return {"rig": self.name, "rig_file": self.path or "", "poll_interval": self.poll_interval,
                "seed": self.seed, "drivers": {spec.where: spec.driver for spec in self.instruments},
                "rig_text": self.text}


def _duration(value: object, where: str, problems: list[Problem], default: float) -> float:
    if value is None:
        return default
    try:
        seconds = parse_quantity(value, "time", field=where)  # type: ignore[arg-type]
    except QuantityError as exc:
        problems.append((where, str(exc).removeprefix(f"{where}: "), None))
        return default
    if not seconds > 0:
        problems.append((where, "must be a positive duration such as '10 s'", value))
        return default
    return seconds


def _instrument(table: object, where: str, role: str, problems: list[Problem],
                interval: float | None = None) -> InstrumentSpec | None:
    if not isinstance(table, dict):
        problems.append((where, f"must be a table ([{where}]) naming a driver", table))
        return None
    config = dict(table)
    name = config.pop("driver", None)
    if name is None:
        installed = ", ".join(sorted(installed_drivers())) or "none"
        problems.append((f"{where}.driver", f"missing: name the driver that fills this role (installed: "
                                            f"{installed})", None))
        return None
    if not isinstance(name, str):
        problems.append((f"{where}.driver", "must be a driver name (a string)", name))
        return None
    try:
        driver = find_driver(name, f"{where}.driver")
    except RigError as exc:
        problems.extend(exc.problems)
        return None
    if isinstance(driver, Driver):
        if driver.role != role:
            problems.append((f"{where}.driver", f"{name!r} drives a {driver.role}, not a {role}", name))
            return None
        if role == "sensor":
            config["name"] = where.removeprefix("sensors.")
        try:
            settings = driver.validate(config, where)
        except RigError as exc:
            problems.extend(exc.problems)
            return None
    else:
        if role == "sensor":
            config["name"] = where.removeprefix("sensors.")
        settings = config
    return InstrumentSpec(where, role, name, dict(table), settings, interval)


def loads_rig(text: str, *, source: str | None = None) -> RigSpec:
    """Parse and validate rig TOML; every problem is reported at once, each naming its table and key."""
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RigError([("toml", f"malformed TOML: {exc}", None)], source) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise RigError([("toml", "malformed TOML: arrays or tables nested too deeply", None)], source) from None
    problems: list[Problem] = []
    for key in sorted(set(data) - _TOP_LEVEL):
        problems.append((key, f"unknown key; a rig file has {', '.join(sorted(_TOP_LEVEL))}", None))
    name = data.get("name", Path(source).stem if source else "rig")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(("name", "must be 1-32 letters, digits, '-' or '_', starting with a letter "
                                 "(it names the rig's telemetry topics)", name))
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(("seed", "must be a whole number", seed))
        seed = 0
    poll_interval = _duration(data.get("poll_interval"), "poll_interval", problems, DEFAULT_POLL_INTERVAL)
    potentiostat = None
    if "potentiostat" not in data:
        problems.append(("potentiostat", "missing: every rig needs a [potentiostat] table", None))
    else:
        potentiostat = _instrument(data["potentiostat"], "potentiostat", "potentiostat", problems)
    microscope = (_instrument(data["microscope"], "microscope", "microscope", problems)
                  if "microscope" in data else None)
    sensors: list[InstrumentSpec] = []
    tables = data.get("sensors", {})
    if not isinstance(tables, dict):
        problems.append(("sensors", "must hold one table per sensor ([sensors.<name>])", tables))
        tables = {}
    for sensor_name, table in tables.items():
        where = f"sensors.{sensor_name}"
        if sensor_name in ("potentiostat", "microscope"):
            problems.append((where, "a sensor cannot be named after a role (its record would clash in "
                                    "/entry/instruments)", sensor_name))
            continue
        if not _NAME.match(sensor_name):
            problems.append((where, "a sensor name is 1-32 letters, digits, '-' or '_', starting with a "
                                    "letter (it names /entry/sensors/<name>)", sensor_name))
            continue
        interval = DEFAULT_SENSOR_INTERVAL
        if isinstance(table, dict) and "interval" in table:
            table = dict(table)
            interval = _duration(table.pop("interval"), f"{where}.interval", problems,
                                 DEFAULT_SENSOR_INTERVAL)
        spec = _instrument(table, where, "sensor", problems, interval)
        if spec is not None:
            sensors.append(spec)
    if problems:
        raise RigError(problems, source)
    assert potentiostat is not None
    return RigSpec(name=name, potentiostat=potentiostat, microscope=microscope, sensors=tuple(sensors),
                   poll_interval=poll_interval, seed=seed, description=str(data.get("description", "")),
                   text=text, path=source)


def load_rig(path: str | os.PathLike[str]) -> RigSpec:
    """Read and validate the rig file at ``path``."""
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8-sig")  # -sig: a leading byte-order mark is not TOML
    except FileNotFoundError:
        raise RigError([("file", "no such rig file", name)], name) from None
    except UnicodeDecodeError as exc:
        raise RigError([("file", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
                                 f"a rig file is a TOML text file", name)], name) from None
    except OSError as exc:
        raise RigError([("file", f"cannot read it: {exc}", name)], name) from None
    return loads_rig(text, source=name)


def check_plan(spec: RigSpec, plan: Plan) -> list[Problem]:
    """What in ``plan`` this rig cannot do: steps its potentiostat cannot run (e.g. impedance on a
    source-measure unit), limits on sensors it does not have."""
    problems: list[Problem] = []
    names = {sensor.name for sensor in spec.sensors}
    for limit in plan.extras.get("sensor_limits", ()):
        if limit.sensor not in names:
            problems.append((f"safety.sensors.{limit.sensor}", f"the rig {spec.name!r} has no sensor of that "
                             f"name (its sensors: {', '.join(sorted(names)) or 'none'})", None))
    driver = find_driver(spec.potentiostat.driver, "potentiostat.driver")
    if not isinstance(driver, Driver) or driver.supported_techniques is None:
        return problems
    runs = ", ".join(sorted(t.__name__ for t in driver.supported_techniques))
    return problems + [
        (step.source or f"steps[{step.index}]",
         f"step {step.name!r} ({step.label}) needs {type(step.technique).__name__}, which the rig's "
         f"potentiostat driver {spec.potentiostat.driver!r} cannot run (it runs {runs})", None)
        for step in plan.steps if not driver.runs(step.technique)]


@dataclass
class BuiltRig:
    """The instruments of a rig, made but not connected, ready for :class:`operando.engine.Experiment`."""

    name: str
    potentiostat: Potentiostat
    microscope: Microscope | None
    sensors: dict[str, Sensor]
    sensor_intervals: dict[str, float]
    poll_interval: float
    config: dict[str, Any]
    context: RigContext

    async def close(self) -> None:
        """Release what the drivers set up beside their instruments (simulators, threads)."""
        await self.context.close()

    @property
    def rig_state(self) -> Callable[[], dict[str, Any]] | None:
        """What the engine saves with each batch of points (every kept part by name), or None: nothing to save."""
        return self.snapshot if self.context.state else None

    def snapshot(self) -> dict[str, Any]:
        """Every kept part of the rig's state, by name, as JSON values."""
        return {name: part.snapshot() for name, part in self.context.state.items()}

    def restore(self, state: Any) -> None:
        """Put back a :meth:`snapshot` of a rig built from the same rig file; raises ValueError naming the part
        that is missing or does not fit."""
        parts = self.context.state
        if not parts:
            raise ValueError(f"{self.name} rig: it has no state to put back")
        if not isinstance(state, dict):
            raise ValueError(f"{self.name} rig: the saved state is not a table of parts")
        for name, part in parts.items():
            if state.get(name) is None and part.required:
                raise ValueError(f"{self.name} rig: the saved state holds no {name}")
        for name, part in parts.items():
            if state.get(name) is not None:
                part.restore(state[name])


def _make(spec: InstrumentSpec, context: RigContext) -> Any:
    driver = find_driver(spec.driver, f"{spec.where}.driver")
    try:
        if isinstance(driver, Driver):
            instrument = driver.create(spec.settings, context)
        else:
            instrument = driver(dict(spec.settings))
    except RigError:
        raise
    except (OperandoError, ValueError, TypeError, KeyError, OSError) as exc:
        raise RigError([(spec.where, f"driver {spec.driver!r} refused its settings: {exc}", None)]) from exc
    expected = _ROLE_TYPES[spec.role]
    if not isinstance(instrument, expected):
        raise RigError([(f"{spec.where}.driver", f"{spec.driver!r} made a {type(instrument).__name__}, which "
                                                 f"is not a {spec.role} (it lacks the {expected.__name__} "
                                                 "role's methods)", None)])
    return instrument


async def build(spec: RigSpec, plan: Plan | None = None, *, seed: int | None = None) -> BuiltRig:
    """Make every instrument of ``spec`` for ``plan`` (inside the running loop); nothing is connected.

    A plan the potentiostat cannot run, or a driver refusing its settings, raises :class:`RigError` and
    whatever was already set up is released.
    """
    if plan is not None:
        problems = check_plan(spec, plan)
        if problems:
            raise RigError(problems, spec.path)
    context = RigContext(plan=plan, seed=spec.seed if seed is None else seed)
    try:
        potentiostat = _make(spec.potentiostat, context)
        microscope = _make(spec.microscope, context) if spec.microscope is not None else None
        sensors = {sensor.name: _make(sensor, context) for sensor in spec.sensors}
    except BaseException as exc:
        await context.close()
        if isinstance(exc, RigError) and exc.source is None:
            raise RigError(exc.problems, spec.path) from exc.__cause__
        raise
    intervals = {sensor.name: sensor.interval or DEFAULT_SENSOR_INTERVAL for sensor in spec.sensors}
    return BuiltRig(spec.name, potentiostat, microscope, sensors, intervals, spec.poll_interval,
                    spec.to_config(), context)
