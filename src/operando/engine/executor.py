"""The protocol executor: the plan's steps in order, each until the pump finds its end; pauses included.

A step starts its technique on the potentiostat and hands it to the pump; the pump says when it is done and
why. A pause asked for (:class:`RunStates` pausing) rests the cell at open circuit, recorded as the interrupted
step with technique "OCV (pause)", until resumed; the step then goes on with what it had left. A resumed run
starts where its record stopped.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from operando.engine.continuation import Continuation, remaining
from operando.engine.events import Event, ExperimentState, Note, StepEnded, StepStarted
from operando.engine.imaging import Imaging
from operando.engine.pump import PointPump
from operando.engine.recorder import Recorder, StepRecord
from operando.engine.resume import ResumeState
from operando.engine.states import RunStates
from operando.plan import Plan, PlannedStep
from operando.storage import PAUSE_LABEL
from operando.techniques import Impedance, OpenCircuit, Recording
from operando.timeline import Timeline


def elapsed(record: StepRecord, now: float) -> float:
    """Seconds the step's technique has run, pauses excluded, at most its planned duration."""
    ran = record.elapsed_before + max(0.0, now - record.clock.offset)
    return min(ran, getattr(record.step.technique, "duration", math.inf))


class ProtocolExecutor:
    """Runs ``plan`` through ``pump`` on ``timeline``; ``move`` makes (and publishes) a state change,
    ``labels`` maps technique labels to their codes, ``resume`` continues an interrupted run."""

    def __init__(self, plan: Plan, pump: PointPump, recorder: Recorder, timeline: Timeline, states: RunStates, *,
                 publish: Callable[[Event], Awaitable[None]], move: Callable[[ExperimentState, str], Awaitable[None]],
                 labels: dict[str, int], imaging: Imaging | None = None, resume: ResumeState | None = None,
                 instrument_name: str = "potentiostat") -> None:
        self.plan = plan
        self.pump = pump
        self.recorder = recorder
        self.timeline = timeline
        self.states = states
        self._publish = publish
        self._move = move
        self.labels = labels
        self.imaging = imaging
        self.resume = resume
        self.instrument_name = instrument_name
        self.impedance_runs = resume.impedance_runs if resume is not None else 0

    async def run(self) -> None:
        """Every step from the first (or the resumed one) to the last, group ends and pauses included."""
        steps = self.plan.steps
        index = self.resume.step_index if self.resume is not None else 0
        carry = self.resume.continuation if self.resume is not None else None
        while index < len(steps):
            if self.states.underlying is ExperimentState.PAUSING:  # asked between steps
                await self._pause(steps[index])
            step = steps[index]
            record = await self._start_step(step, carry)
            carry = None
            if record is None:  # a continued step with nothing left to run
                index += 1
                continue
            await self.pump.done.wait()
            stop = self.pump.stop
            now = self.timeline.now()
            ran = elapsed(record, now)
            self.pump.current = None
            if stop is not None and stop.action == "pause":
                await self._publish(StepEnded(now, step.index, step.name, "paused", None, "pause",
                                              record.points, record.charge, stop.description, ran))
                carry = Continuation(ran, record.charge_at_start, record.first_abs_current, record.points,
                                     record.charge)
                await self._pause(step)
                continue
            reason = "limit" if stop is not None else "duration"
            await self._publish(StepEnded(now, step.index, step.name, reason,
                                          stop.description if stop else None, stop.action if stop else "next",
                                          record.points, record.charge, "", ran))
            if self.imaging is not None:
                self.imaging.offer_step("step_end", now, step.name, step.label)
            index += 1
            if stop is not None and stop.action == "end_group" and step.group is not None:
                skipped = []
                while index < len(steps) and steps[index].group == step.group:
                    skipped.append(steps[index].index)
                    index += 1
                if skipped:
                    text = f"group {step.group!r} ended by {stop.description}: skipped steps {skipped}"
                    await self._publish(Note(self.timeline.now(), text))

    async def _start_step(self, step: PlannedStep, carry: Continuation | None = None) -> StepRecord | None:
        technique, elapsed_before = step.technique, 0.0
        if carry is not None:
            technique, elapsed_before = remaining(step.technique, carry)
            if getattr(technique, "duration", math.inf) <= 0:
                return None
        record = await self._run_technique(step, technique, self.labels[step.label])
        if carry is not None and elapsed_before > 0:
            record.elapsed_before = elapsed_before
            record.charge_at_start = carry.charge_at_start
            record.first_abs_current = carry.first_abs_current
            record.points = carry.points
            record.last_charge = self.recorder.counter.charge
        await self._publish(StepStarted(record.clock.offset, step.index, step.name, step.label, step.cycle,
                                        step.source, record.clock.offset, record.clock.uncertainty,
                                        carry is not None, elapsed_before))
        if self.imaging is not None and carry is None:
            self.imaging.offer_step("step_start", record.clock.offset, step.name, step.label)
        self.pump.start_reading()
        return record

    async def _run_technique(self, step: PlannedStep, technique: Any, code: int) -> StepRecord:
        """Start a technique on the potentiostat and make it the one the pump records."""
        before = self.timeline.now()
        await self.pump.link.call(lambda: self.pump.potentiostat.start(technique))
        after = self.timeline.now()
        clock = self.timeline.device_clock(f"{self.instrument_name} step {step.index}", before, after)
        run_step = step if technique is step.technique else replace(step, technique=technique)
        record = StepRecord(run_step, clock, code, self.recorder.counter.charge)
        if isinstance(technique, Impedance):
            record.impedance_run = self.impedance_runs
            self.impedance_runs += 1
        self.pump.follow(record)
        return record

    async def _pause(self, step: PlannedStep) -> None:
        """Rest at open circuit (recorded as the interrupted step, technique "OCV (pause)") until resumed."""
        reason, author = self.states.why.get(ExperimentState.PAUSING, ("paused", ""))
        if self.imaging is not None:
            self.imaging.set_active(False)
        await self._move(ExperimentState.PAUSED, f"{reason} ({author})" if author else reason)
        recording = getattr(step.technique, "recording", None) or Recording(dt=60.0)
        rest = OpenCircuit(duration=max(self.plan.safety.max_duration - self.timeline.now(), 1.0),
                           recording=Recording(dt=recording.dt))
        pause_step = replace(step, name="pause", label=PAUSE_LABEL, technique=rest, stops=(),
                             relative_current_stop=None)
        record = await self._run_technique(pause_step, rest, self.labels[PAUSE_LABEL])
        await self._publish(StepStarted(record.clock.offset, step.index, "pause", PAUSE_LABEL, step.cycle,
                                        step.source, record.clock.offset, record.clock.uncertainty))
        self.pump.start_reading()
        await self.states.wait_for(ExperimentState.RESUMING)
        self.pump.stop_for("resumed")
        await self.pump.done.wait()
        now = self.timeline.now()
        await self._publish(StepEnded(now, step.index, "pause", "duration", None, "next", record.points,
                                      record.charge, "", elapsed(record, now)))
        self.pump.current = None
        _, author = self.states.why.get(ExperimentState.RESUMING, ("", ""))
        await self._move(ExperimentState.RUNNING, f"resumed ({author})" if author else "resumed")
        if self.imaging is not None:
            self.imaging.set_active(True)
