"""Protocols as researchers write them (TOML or Python), validated and resolved into an operando.plan.Plan.

protocol = load_protocol("examples/thesis_nmc622.toml")
plan = resolve(protocol)
estimate_imaging(plan)  # frames, dose, microscope time and disk per region
"""

from operando.protocol.builders import (
    cccv,
    charge_step,
    constant_current,
    cyclic_voltammetry,
    every,
    gitt,
    hold,
    imaging,
    impedance,
    loop,
    manual,
    region,
    rest,
    soc_step,
    step_end,
    step_start,
    voltage_crossing,
)
from operando.protocol.estimates import ImagingEstimate, RegionEstimate, estimate_imaging
from operando.protocol.imaging_model import Imaging, RegionSpec, StageSpec, TrackingSpec, TriggerSpec
from operando.protocol.loading import load_protocol, loads_protocol
from operando.protocol.model import Protocol, Safety
from operando.protocol.resolve import resolve
from operando.protocol.steps import (
    TECHNIQUES,
    AnyStep,
    CCCVStep,
    ConstantCurrentStep,
    ConstantVoltageStep,
    CurrentUntil,
    CyclicVoltammetryStep,
    GITTStep,
    HoldUntil,
    ImpedanceStep,
    LoopStep,
    Record,
    RestStep,
)

__all__ = [
    "TECHNIQUES",
    "AnyStep",
    "CCCVStep",
    "ConstantCurrentStep",
    "ConstantVoltageStep",
    "CurrentUntil",
    "CyclicVoltammetryStep",
    "GITTStep",
    "HoldUntil",
    "Imaging",
    "ImagingEstimate",
    "ImpedanceStep",
    "LoopStep",
    "Protocol",
    "Record",
    "RegionEstimate",
    "RegionSpec",
    "RestStep",
    "Safety",
    "StageSpec",
    "TrackingSpec",
    "TriggerSpec",
    "cccv",
    "charge_step",
    "constant_current",
    "cyclic_voltammetry",
    "estimate_imaging",
    "every",
    "gitt",
    "hold",
    "imaging",
    "impedance",
    "load_protocol",
    "loads_protocol",
    "loop",
    "manual",
    "region",
    "resolve",
    "rest",
    "soc_step",
    "step_end",
    "step_start",
    "voltage_crossing",
]
