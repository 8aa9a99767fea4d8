"""The telemetry sink: engine events to MQTT messages, and the retained state a late joiner sees first.

It reads the bus with a drop-oldest subscription (it can never slow the engine) and only fills the
outbox; the network is the MQTT thread's business.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from operando.engine.bus import EventBus
from operando.engine.events import (
    DriftMeasured,
    Event,
    ExperimentState,
    FrameAcquired,
    ImpedanceRecorded,
    PointsRecorded,
    StateChanged,
    StepStarted,
)
from operando.plan import Plan
from operando.telemetry.downsample import Downsampler
from operando.telemetry.outbox import Message, Outbox
from operando.telemetry.payloads import dumps, event_payload, frame_payload, json_value, png, points_payload
from operando.telemetry.topics import Topics
from operando.timeline import Timeline

ELECTROCHEM_COLUMNS = ("t", "E_we", "I", "Q", "soc", "cycle", "step")
IMPEDANCE_COLUMNS = ("run", "t", "frequency", "Z_re", "Z_im", "E_dc", "I_dc")
SCHEMA_VERSION = 1


class Reported(Protocol):
    """What the sink reads of the experiment it reports: its bus, plan and file, and where it stands."""

    @property
    def bus(self) -> EventBus: ...

    @property
    def plan(self) -> Plan: ...

    @property
    def out_path(self) -> Path: ...

    @property
    def timeline(self) -> Timeline | None: ...

    @property
    def state(self) -> ExperimentState: ...


class TelemetrySink:
    """Turns ``experiment``'s events into messages for ``outbox`` under ``topics``."""

    def __init__(self, experiment: Reported, topics: Topics, outbox: Outbox, *, electrochem_interval: float = 1.0,
                 commands: dict[str, Any] | None = None, queue: int = 512) -> None:
        self.experiment = experiment
        self.topics = topics
        self.outbox = outbox
        self.downsampler = Downsampler(electrochem_interval)
        self.subscription = experiment.bus.subscribe("telemetry", maxsize=queue, overflow="drop_oldest")
        self.state = self._initial_state(commands or {})

    def _initial_state(self, commands: dict[str, Any]) -> dict[str, Any]:
        plan = self.experiment.plan
        imaging = plan.imaging
        regions = {}
        for region in (imaging.regions if imaging is not None else ()):
            regions[region.name] = {"frames": 0, "cumulative_dose": 0.0, "dose_budget": region.dose_budget,
                                    "last_frame": None, "triggers": [trigger.describe() for trigger in
                                                                     region.triggers]}
        return {
            "schema": SCHEMA_VERSION, "rig": self.topics.rig, "experiment": plan.name, "state": "idle",
            "reason": "", "t": 0.0, "utc": None, "start_utc": None,
            "file": os.path.abspath(self.experiment.out_path), "pid": os.getpid(),
            "step": None, "cycle": 0, "E_we": None, "I": None, "Q": None, "soc": None,
            "estimated_duration": json_value(plan.estimated_duration), "next_trigger": None,
            "regions": regions, "commands": commands, "dropped": 0,
        }

    async def run(self) -> None:
        """Until the bus closes (the experiment ended); the final state is the last thing queued."""
        async for event in self.subscription:
            self.handle(event)
        self.publish_state()

    def handle(self, event: Event) -> None:
        match event:
            case PointsRecorded():
                self._points(event)
            case ImpedanceRecorded():
                columns = event.impedance.columns()
                chosen = np.arange(len(event.impedance))
                self._send(self.topics.impedance, points_payload(
                    {name: columns[name] for name in IMPEDANCE_COLUMNS if name in columns}, chosen), "event", 1)
            case FrameAcquired():
                self._frame(event)
            case DriftMeasured():
                self._send(self.topics.drift(event.region), event_payload(event), "event", 1)
            case _:
                self._track(event)
                self._send(self.topics.events, event_payload(event), "event", 1)
        self.publish_state(event.t)

    def _points(self, event: PointsRecorded) -> None:
        batch = event.points
        columns = batch.columns()
        last = -1
        self.state.update(E_we=json_value(columns["E_we"][last]), I=json_value(columns["I"][last]),
                          Q=json_value(columns["Q"][last]), soc=json_value(columns["soc"][last]),
                          cycle=json_value(columns["cycle"][last]))
        chosen = self.downsampler.select(columns["t"])
        if chosen.size:
            payload = points_payload({name: columns[name] for name in ELECTROCHEM_COLUMNS}, chosen)
            self._send(self.topics.electrochem, payload, "live", 0)

    def _frame(self, event: FrameAcquired) -> None:
        self._send(self.topics.frames(event.region), frame_payload(event), "event", 1)
        thumbnail = event.thumbnail
        if thumbnail.size:
            # Retained: a late joiner sees each region's latest frame at once. Encoded on the MQTT thread.
            topic = self.topics.thumbnails(event.region)
            self.outbox.put(Message(topic, lambda: png(thumbnail), "retained", 1))
        region = self.state["regions"].setdefault(event.region, {"frames": 0, "cumulative_dose": 0.0,
                                                                 "dose_budget": None, "triggers": []})
        region.update(frames=region["frames"] + 1, cumulative_dose=json_value(event.cumulative_dose),
                      last_frame={"index": event.index, "t": json_value(event.t), "trigger": event.trigger})

    def _track(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self.state.update(state=json_value(event.new), reason=event.reason)
        elif isinstance(event, StepStarted):
            self.state.update(step={"index": event.step, "name": event.name, "label": event.label},
                              cycle=event.cycle)

    def publish_state(self, t: float | None = None) -> None:
        """Queue the present state (retained; only the newest is ever sent)."""
        state = self.state
        timeline = self.experiment.timeline
        if t is not None and math.isfinite(t):
            state["t"] = t
        if timeline is not None:
            start: datetime = timeline.start_utc
            state["start_utc"] = start.isoformat()
            state["utc"] = (start + timedelta(seconds=state["t"])).astimezone(UTC).isoformat()
        state["state"] = json_value(self.experiment.state)
        live = state["state"] in ("running", "paused", "suspended")
        state["next_trigger"] = self._next_timed(state["t"]) if live else None
        state["dropped"] = self.outbox.dropped + self.subscription.dropped
        self.outbox.put(Message(self.topics.state, dumps(state), "retained", 1))

    def _next_timed(self, now: float) -> dict[str, Any] | None:
        """The next acquisition a timed trigger asks for: "every" triggers fire on the grid k x interval from
        the start of the run (t = 0 included). SOC, charge and voltage triggers cannot be foreseen."""
        imaging = self.experiment.plan.imaging
        best: dict[str, Any] | None = None
        for region in (imaging.regions if imaging is not None else ()):
            for trigger in region.triggers:
                if trigger.kind == "every" and trigger.interval:
                    due = (math.floor(now / trigger.interval + 1e-9) + 1) * trigger.interval
                    if best is None or due < best["t"]:
                        best = {"region": region.name, "trigger": trigger.describe(), "t": due}
        return best

    def _send(self, topic: str, payload: dict[str, Any], lane: str, qos: int) -> None:
        self.outbox.put(Message(topic, dumps(payload), lane, qos))  # type: ignore[arg-type]
