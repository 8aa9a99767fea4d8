"""A mosquitto for the module (tests start their own on a free loopback port, never the system service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.brokers import MOSQUITTO, Mosquitto

needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed: apt-get install mosquitto mosquitto-clients "
                              "(.ci/run installs it)")


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed: apt-get install mosquitto mosquitto-clients")
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.kill()


@pytest.fixture
def fresh_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed: apt-get install mosquitto mosquitto-clients")
    broker = Mosquitto(tmp_path).start()
    yield broker
    broker.kill()
