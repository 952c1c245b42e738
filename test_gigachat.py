#!/usr/bin/env python3
"""Step-by-step check of GigaChat (TLS, OAuth, models, chat) and the OpenRouter fallback.

Same as `nexus-ai check`; run it with the project's venv: `.venv/bin/python test_gigachat.py [--json]`.
"""

import sys
from pathlib import Path

# This checkout's backend comes first, so the check reads this checkout's .env and code.
_BACKEND = Path(__file__).resolve().parent / "backend"
if (_BACKEND / "app").is_dir():
    sys.path.insert(0, str(_BACKEND))

from app.ops.check import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
