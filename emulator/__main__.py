"""`python -m emulator` is `cf-emulator`."""

from emulator.cli import run

run()
