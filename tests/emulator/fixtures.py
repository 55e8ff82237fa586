"""pytest fixtures for the Binance emulator. Import them into a conftest.py:

    from tests.emulator.fixtures import *  # noqa: F403

- `binance_emulator`: a fresh emulator on a free 127.0.0.1 port for one test, stopped after it.
- `binance_overrides`: the CCXT_OVERRIDES dict that points ccxt's binance client at it.
- `use_binance_emulator`: the same, already applied to Django settings; returns the emulator.
- `closed_port`: a 127.0.0.1 port with nothing listening ("the exchange is down").
- `binance_markets`: the emulator in use and its market list synced into the database (the way the
  platform loads markets), for tests that create bots or watch symbols through the pages and the API.
- `exchanges_unreachable`: every supported exchange's ccxt client sent through a proxy on a closed
  127.0.0.1 port, so any exchange call fails at once as "unreachable" and nothing leaves the machine.
"""

import socket

import pytest

from tests.emulator.binance import BinanceEmulator

__all__ = ["binance_emulator", "binance_markets", "binance_overrides", "closed_port", "exchanges_unreachable", "use_binance_emulator"]


@pytest.fixture
def binance_emulator():
    emu = BinanceEmulator().start()  # port 0: the OS picks a free one, no race between parallel runs
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def binance_overrides(binance_emulator) -> dict:
    return binance_emulator.ccxt_overrides()


@pytest.fixture
def use_binance_emulator(binance_emulator, settings):
    settings.CCXT_OVERRIDES = binance_emulator.ccxt_overrides()
    return binance_emulator


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def exchanges_unreachable(closed_port, settings) -> int:
    settings.CCXT_OVERRIDES = {e: {"httpsProxy": f"http://127.0.0.1:{closed_port}"}
                               for e in settings.SUPPORTED_EXCHANGES}
    return closed_port


@pytest.fixture
def binance_markets(use_binance_emulator, db):
    from trading.services.markets import markets_sync

    markets_sync(exchange="binance")
    return use_binance_emulator
