"""`operando check`'s report: a resolved plan and its imaging estimate as text for a person or JSON for a
program."""

from operando.protocol.report.imaging import imaging_to_dict, render_imaging
from operando.protocol.report.plan import describe_limit, describe_set_point, plan_to_dict, render_plan, step_stops

__all__ = [
    "describe_limit",
    "describe_set_point",
    "imaging_to_dict",
    "plan_to_dict",
    "render_imaging",
    "render_plan",
    "step_stops",
]
