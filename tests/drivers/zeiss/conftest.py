"""Fixtures of the Zeiss driver tests."""

import pytest

from tests.drivers.zeiss.helpers import RecordingSeam


@pytest.fixture
def recording_seam() -> RecordingSeam:
    return RecordingSeam()
