"""Protocols as researchers write them (TOML or Python), validated and resolved into an operando.plan.Plan.

protocol = load_protocol("examples/thesis_nmc622.toml")
plan = resolve(protocol)
"""

from operando.protocol.builders import (
    cccv,
    constant_current,
    cyclic_voltammetry,
    gitt,
    hold,
    impedance,
    loop,
    rest,
)
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
    "ImpedanceStep",
    "LoopStep",
    "Protocol",
    "Record",
    "RestStep",
    "Safety",
    "cccv",
    "constant_current",
    "cyclic_voltammetry",
    "gitt",
    "hold",
    "impedance",
    "load_protocol",
    "loads_protocol",
    "loop",
    "resolve",
    "rest",
]
