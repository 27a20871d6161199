"""The participant page's browser tests use the app channel's Web Push emulator (plugins/app/tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "app" / "tests"))
