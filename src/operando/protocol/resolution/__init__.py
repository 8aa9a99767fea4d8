"""Resolve a protocol into the operando.plan.Plan the engine runs: set points in SI units checked against the
safety limits, battery techniques expanded into device techniques, imaging triggers checked against the steps."""

from operando.protocol.resolution.resolver import resolve

__all__ = ["resolve"]
