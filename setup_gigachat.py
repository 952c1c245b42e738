#!/usr/bin/env python3
"""Write GIGACHAT_API_KEY (and GIGACHAT_SCOPE) into .env from a Client ID and Client Secret.

Same as `nexus-ai setup-gigachat`; run it with the project's venv: `.venv/bin/python setup_gigachat.py`.
"""

import sys
from pathlib import Path

# This checkout's backend comes first, so the script never runs another checkout's code or writes its .env.
_BACKEND = Path(__file__).resolve().parent / "backend"
if (_BACKEND / "app").is_dir():
    sys.path.insert(0, str(_BACKEND))

from app.ops.setup import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
