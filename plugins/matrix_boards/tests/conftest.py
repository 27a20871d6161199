"""Fixtures for the matrix_boards tests (helpers live in matrix_boards_support.py)."""

from __future__ import annotations

import pytest
from matrix_boards_support import MOSQUITTO, Broker, Recorder

from plugins.matrix_boards.contract import Topics


@pytest.fixture
async def mosquitto(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker binary is not installed (apt-get install mosquitto); "
                    "these tests need a real MQTT broker")
    broker = Broker(tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.kill()


@pytest.fixture
def recorder(mosquitto):
    def make(*filters: str, topics: Topics | None = None) -> Recorder:
        return Recorder(mosquitto.port, topics or Topics(), *filters)

    return make
