"""approach_stage: every arrival ends moving in +x and +y over the approach distance, within the travel."""

from __future__ import annotations

import asyncio

import pytest

from operando.roles.microscope import Range, StageLimits, StagePosition, approach_stage


class Stage:
    """Only the stage of a microscope: commanded position, travel, and the moves asked for (m)."""

    def __init__(self, x: float, y: float) -> None:
        self.here = StagePosition(x, y, 0.035, 0.0, 0.0)
        self.moves: list[dict[str, float]] = []

    async def stage_position(self) -> StagePosition:
        return self.here

    async def stage_limits(self) -> StageLimits:
        return StageLimits(Range(0.0, 0.13), Range(0.0, 0.13), Range(0.0, 0.06), Range(-0.07, 1.1),
                           Range(-6.3, 6.3))

    async def move_stage(self, **target: float) -> StagePosition:
        self.moves.append(target)
        self.here = StagePosition(target.get("x", self.here.x), target.get("y", self.here.y),
                                  target.get("z", self.here.z))
        return self.here


def moves(start: tuple[float, float], goal: tuple[float, float], **options: float) -> list[dict[str, float]]:
    stage = Stage(*start)
    reached = asyncio.run(approach_stage(stage, *goal, **options))  # type: ignore[arg-type]
    assert (reached.x, reached.y) == goal
    return stage.moves


def test_a_target_up_and_right_by_more_than_the_approach_is_one_move() -> None:
    goal = (0.060 + 5e-6, 0.045 + 3e-6)
    assert moves((0.060, 0.045), goal) == [{"x": goal[0], "y": goal[1]}]


@pytest.mark.parametrize("goal", [(0.060 - 10e-6, 0.045 + 10e-6), (0.060 + 10e-6, 0.045 - 10e-6),
                                  (0.060 + 0.5e-6, 0.045 + 10e-6), (0.060, 0.045)])
def test_otherwise_the_stage_first_goes_two_micrometres_below_the_target(goal: tuple[float, float]) -> None:
    first, last = moves((0.060, 0.045), goal)
    assert first == {"x": pytest.approx(goal[0] - 2e-6, abs=1e-12), "y": pytest.approx(goal[1] - 2e-6, abs=1e-12)}
    assert last == {"x": goal[0], "y": goal[1]}


def test_z_tilt_and_rotation_go_with_the_last_move_and_the_approach_stays_within_travel() -> None:
    first, last = moves((0.060, 0.045), (0.5e-6, 0.045), z=0.034, tilt=0.9, rotation=0.0)
    assert first["x"] == 0.0 and first["y"] == pytest.approx(0.045 - 2e-6)  # not below the travel's end
    assert set(first) == {"x", "y"}
    assert last == {"x": 0.5e-6, "y": 0.045, "z": 0.034, "tilt": 0.9, "rotation": 0.0}


def test_no_approach_is_a_plain_move() -> None:
    assert moves((0.060, 0.045), (0.059, 0.044), approach=0.0) == [{"x": 0.059, "y": 0.044}]
