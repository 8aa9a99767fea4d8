"""The [imaging] section resolves into Plan.imaging in SI units, from TOML and from Python alike."""

import dataclasses
import math
from pathlib import Path

import pytest

from operando.drift import TrackingSettings
from operando.plan import StagePosition, Trigger
from operando.protocol import (
    Protocol,
    cccv,
    charge_step,
    every,
    imaging,
    load_protocol,
    loads_protocol,
    manual,
    region,
    resolve,
    rest,
    soc_step,
    step_end,
    step_start,
    voltage_crossing,
)
from operando.protocol.schema.imaging_model import DETECTORS, FRAME_STORES
from tests.protocol.imaging_cases import WIDE, protocol

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ELECTRON = 1.602176634e-19  # C


def test_a_region_resolves_to_si_units() -> None:
    plan = resolve(loads_protocol(protocol()))
    assert plan.imaging is not None
    (wide,) = plan.imaging.regions
    assert wide.name == "wide" and wide.stage_position is None
    assert wide.pixel_size == pytest.approx(42.5e-9)
    assert wide.frame_size == (2048, 1536)
    assert wide.dwell == pytest.approx(800e-9)
    assert wide.detectors == ("SE2", "ESB")
    assert (wide.accelerating_voltage, wide.probe_current) == pytest.approx((2000.0, 2e-9))
    assert wide.triggers == (Trigger("every", interval=7200.0),)
    assert (wide.tilt_correction, wide.scan_rotation, wide.min_interval) == (None, 0.0, 0.0)
    assert (wide.dose_budget, wide.on_budget_exceeded, wide.settle_time) == (None, "skip", 0.5)
    # tracking is on unless the protocol turns it off; every setting is recorded, the tracker's defaults here
    assert plan.extras["tracking"] == {"wide": dataclasses.asdict(TrackingSettings())}
    assert plan.extras["tracking"]["wide"]["enabled"] is True


def test_frame_dose_by_hand() -> None:
    # 2 nA for 1 us is 2e-15 C = 12483 electrons per pixel, on 42.5 x 42.5 = 1806.25 nm^2: 6.911 e-/nm^2
    text = protocol(regions=WIDE.replace('dwell = "800 ns"', 'dwell = "1 us"'))
    plan = resolve(loads_protocol(text))
    (wide,) = plan.imaging.regions
    assert 2e-9 * 1e-6 / ELECTRON == pytest.approx(12483, abs=1)
    assert wide.frame_dose * 1e-18 == pytest.approx(12483 / 1806.25, rel=1e-4)
    assert wide.frame_dose * 1e-18 == pytest.approx(6.911, rel=1e-3)
    # and 1 us is no Zeiss scan rate's dwell: the plan says which one the microscope will use
    (warning,) = plan.extras["warnings"]
    assert "imaging.regions[0].dwell: 1000 ns is no Zeiss scan rate's dwell" in warning
    assert "scan at rate 4, 800 ns" in warning


def test_the_other_ways_to_write_a_region() -> None:
    regions = """
[[imaging.regions]]
name = "close-up_1"
stage_position = { x = "12.5 mm", y = "-3 mm", z = "5 mm", tilt = "54 deg", rotation = "90 deg" }
field_of_view = "27.2384 um"          # / 2048 px = 13.3 nm
frame_size = [1024, 768]
scan_rate = 5                          # 50 ns x 2^5 = 1.6 us
detectors = ["se2", "In-Lens", "esb"]
accelerating_voltage = "1500 V"
probe_current = "500 pA"
tilt_correction = "-36 deg"
scan_rotation = "0.5 rad"
min_interval = "15 min"
settle_time = "2 s"
dose_budget = "1000 e-/nm^2"
on_budget_exceeded = "stop_region"
triggers = [
    { soc_step = "5 %" },
    { charge_step = "0.1 mAh" },
    { voltage = "4.2 V vs Li", direction = "rising" },
    { voltage = "3.5 V" },
    { step_start = "CHARGE" },
    { step_end = "GCPL" },
    { step_end = true },
    { manual = true },
]

[imaging.regions.tracking]
enabled = false
confidence_threshold = 0.4
tracking_frames = 2
max_beam_shift = "2 um"
"""
    steps = """
[[steps]]
name = "charge"
technique = "cccv"
current = "C/10"
until.voltage = "4.3 V vs Li"
hold.current_fraction = 0.2
"""
    plan = resolve(loads_protocol(protocol(steps=steps, regions=regions)))
    (roi,) = plan.imaging.regions
    assert roi.stage_position == pytest.approx(
        StagePosition(x=12.5e-3, y=-3e-3, z=5e-3, tilt=math.radians(54), rotation=math.radians(90))
    )
    assert roi.pixel_size == pytest.approx(27.2384e-6 / 1024)
    assert roi.frame_size == (1024, 768)
    assert roi.dwell == pytest.approx(1.6e-6)
    assert roi.detectors == ("SE2", "InLens", "ESB")
    assert roi.accelerating_voltage == pytest.approx(1500.0) and roi.probe_current == pytest.approx(0.5e-9)
    assert roi.tilt_correction == pytest.approx(math.radians(-36)) and roi.scan_rotation == pytest.approx(0.5)
    assert (roi.min_interval, roi.settle_time) == pytest.approx((900.0, 2.0))
    assert roi.dose_budget == pytest.approx(1000 / 1e-18) and roi.on_budget_exceeded == "stop_region"
    assert roi.triggers == (
        Trigger("soc_step", soc_step=0.05),
        Trigger("charge_step", charge_step=pytest.approx(0.36)),  # 0.1 mAh = 0.36 C
        Trigger("voltage_crossing", voltage=pytest.approx(3.58), direction="rising"),  # 4.2 - 0.62 V (Li-In)
        Trigger("voltage_crossing", voltage=pytest.approx(3.5), direction="either"),  # as measured
        Trigger("step_start", step="charge"),  # the plan's own spelling
        Trigger("step_end", step="GCPL"),
        Trigger("step_end", step=None),
        Trigger("manual"),
    )
    settings = plan.extras["tracking"]["close-up_1"]
    assert settings == dict(
        dataclasses.asdict(TrackingSettings()),
        enabled=False,
        confidence_threshold=0.4,
        tracking_frames=2,
        max_beam_shift=pytest.approx(2e-6),
    )


def test_the_python_builder_gives_the_same_plan_as_the_file() -> None:
    cell = {"material": "NMC622", "active_mass": "3.2549 mg", "counter_electrode": "Li-In"}
    safety = {
        "voltage_min": "1.0 V vs Li",
        "voltage_max": "4.4 V vs Li",
        "current_max": "100 uA",
        "duration_max": "150 h",
    }
    wide = region(
        "wide",
        pixel_size="42.5 nm",
        frame_size="2048x1536",
        dwell="800 ns",
        detectors=["SE2", "ESB"],
        accelerating_voltage="2 kV",
        probe_current="2 nA",
        triggers=[every("2 h")],
    )
    from_python = resolve(
        Protocol(
            name="imaging-test",
            cell=cell,
            safety=safety,
            steps=[rest("10 h", name="rest")],
            imaging=imaging(wide),
        )
    )
    from_file = resolve(loads_protocol(protocol()))
    assert from_python.imaging == from_file.imaging
    assert from_python.extras == from_file.extras


def test_every_trigger_builder() -> None:
    plan = resolve(
        Protocol(
            cell={"material": "NMC622", "active_mass": "3.2549 mg", "counter_electrode": "Li"},
            safety={
                "voltage_min": "2 V",
                "voltage_max": "4.4 V",
                "current_max": "1 mA",
                "duration_max": "50 h",
            },
            steps=[cccv("C/10", to="4.3 V", name="charge")],
            imaging=imaging(
                region(
                    "r",
                    pixel_size="13.3 nm",
                    frame_size=(1024, 768),
                    scan_rate=3,
                    detectors=["InLens"],
                    accelerating_voltage="1.5 kV",
                    probe_current="3 nA",
                    triggers=[
                        every("30 min"),
                        soc_step(0.1),
                        charge_step("50 uAh"),
                        voltage_crossing("4 V", "falling"),
                        step_start(),
                        step_end("charge"),
                        manual(),
                    ],
                    tracking=False,
                ),
                max_probe_current="5 nA",
            ),
        )
    )
    assert [trigger.kind for trigger in plan.imaging.regions[0].triggers] == [
        "every",
        "soc_step",
        "charge_step",
        "voltage_crossing",
        "step_start",
        "step_end",
        "manual",
    ]
    assert plan.imaging.regions[0].triggers[4].step is None
    assert plan.extras["tracking"]["r"]["enabled"] is False


def test_the_thesis_example_images_a_wide_field_and_a_particle() -> None:
    plan = resolve(load_protocol(EXAMPLES / "thesis_nmc622.toml"))
    wide, particle = plan.imaging.regions
    assert (wide.pixel_size, particle.pixel_size) == pytest.approx((42.5e-9, 13.3e-9))  # the thesis's
    for roi in (wide, particle):
        assert roi.frame_size == (2048, 1536) and roi.detectors == ("SE2", "ESB")
        assert roi.accelerating_voltage == pytest.approx(2e3) and roi.probe_current <= 2e-9
        assert roi.tilt_correction == pytest.approx(math.radians(-36))
    assert Trigger("every", interval=2 * 3600.0) in wide.triggers
    assert Trigger("step_end", step=None) in wide.triggers
    assert Trigger("soc_step", soc_step=0.05) in particle.triggers
    assert particle.dose_budget is not None
    assert all(settings["enabled"] for settings in plan.extras["tracking"].values())
    assert "warnings" not in plan.extras


def test_the_frame_stores_and_detectors_are_the_zeiss_drivers() -> None:
    from operando.drivers.zeiss import IMAGE_STORES
    from operando.drivers.zeiss.config import DETECTORS as ZEISS_DETECTORS

    assert set(FRAME_STORES) == set(IMAGE_STORES.values())
    assert set(DETECTORS) == set(ZEISS_DETECTORS)


def test_a_plan_without_imaging_has_none() -> None:
    text = protocol().split("[imaging]")[0]
    plan = resolve(loads_protocol(text))
    assert plan.imaging is None and "tracking" not in plan.extras


def test_the_tracking_table_has_every_tracker_setting_with_units() -> None:
    from operando.protocol import TrackingSpec

    assert set(TrackingSpec.model_fields) == {field.name for field in dataclasses.fields(TrackingSettings)}
    table = """
[imaging.regions.tracking]
correct = false
detector = "esb"
tracking_frames = 3
tracking_frame_size = "1024x768"
tracking_dwell = "200 ns"
max_beam_shift_fraction = 0.5
stage_approach = "1 um"
verify_stage_moves = false
keyframe_similarity_threshold = 0.3
max_failures = 5
reacquire = false
feed_forward = false
position_noise = "1e-20 m^2/s"
velocity_noise = "2e-23 m^2/s^3"
jump_threshold = 8.0
local_fields = false
grid = 32
stage_y_scale = 0.8
beam_shift_follows_scan_rotation = false
"""
    plan = resolve(loads_protocol(protocol(regions=WIDE + table)))
    settings = plan.extras["tracking"]["wide"]
    assert settings == {
        "enabled": True,
        "correct": False,
        "confidence_threshold": 0.5,  # not written: the tracker's default
        "detector": "ESB",
        "tracking_frames": 3,
        "tracking_frame_size": (1024, 768),
        "tracking_dwell": pytest.approx(200e-9),
        "max_beam_shift": None,
        "max_beam_shift_fraction": 0.5,
        "stage_approach": pytest.approx(1e-6),
        "verify_stage_moves": False,
        "keyframe_similarity_threshold": 0.3,
        "max_failures": 5,
        "reacquire": False,
        "feed_forward": False,
        "position_noise": pytest.approx(1e-20),
        "velocity_noise": pytest.approx(2e-23),
        "jump_threshold": 8.0,
        "local_fields": False,
        "grid": 32,
        "stage_y_scale": 0.8,
        "beam_shift_follows_scan_rotation": False,
    }
    # what the engine does with it
    assert TrackingSettings.from_mapping(settings).tracking_frame_size == (1024, 768)
