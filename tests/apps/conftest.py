"""Make the apps' own modules importable the way the Workers runtime sees them (top-level
names from each app's import root), with the emulator's ``workers`` stand-in."""

from __future__ import annotations

import sys
from pathlib import Path

from emulator.runtime.loader import shims_path

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "apps" / "workflow" / "src", ROOT / "apps" / "web" / "functions", shims_path()):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
