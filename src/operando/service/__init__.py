"""The engine as a service: an experiment that publishes telemetry and obeys remote commands, run headless."""

from operando.service.launch import EngineProcess, start_engine
from operando.service.options import add_service_arguments, settings_from_args
from operando.service.service import TelemetryService, serving

__all__ = ["EngineProcess", "TelemetryService", "add_service_arguments", "serving", "settings_from_args",
           "start_engine"]
