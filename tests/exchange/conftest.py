# The emulator fixtures, until tests/conftest.py imports them for the whole suite.
from tests.emulator.fixtures import *  # noqa: F403
