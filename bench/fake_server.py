"""The test fake (backend/tests/fake_upstream.py) as its own process, so its CPU is not the bench client's.

Prints one JSON line with its addresses and credentials, then obeys lines on stdin:

    latency 1.0      every GigaChat/OpenRouter answer waits 1 s before its headers (0 = none)
    quit

Each command is acknowledged with `ok` on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from tests import fake_upstream
from tests.fake_upstream import FakeUpstream, Fault

# A held answer re-checks every 20 ms whether the tests reset the fake; with 200 answers held for a second that
# polling alone would keep the fake's core busy and slow the very server being measured. Nothing resets here.
fake_upstream._POLL_INTERVAL = 1.0


def main() -> None:
    fake = FakeUpstream().start()
    fake.chunk_delay = 0.0
    fake.scope = "GIGACHAT_API_B2B"  # PERS would serialise everything to one request at a time
    fake.gigachat_concurrency_limit = 100_000
    for target in (fake.gigachat, fake.openrouter, fake.oauth):
        target.keep_last(100)  # the bench reads no request log; an unbounded one slowed each phase more than the last
    print(
        json.dumps(
            {
                "gigachat_base_url": fake.gigachat_base_url,
                "gigachat_auth_url": fake.gigachat_auth_url,
                "credentials": fake.credentials,
                "scope": fake.scope,
                "openrouter_base_url": fake.openrouter_base_url,
                "openrouter_api_key": fake.openrouter_api_key,
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "latency":
            seconds = float(argument)
            fault = Fault.hang_before_headers(seconds) if seconds > 0 else None
            fake.gigachat.set_default(fault)
            fake.openrouter.set_default(fault)
        elif command == "quit":
            break
        print("ok", flush=True)
    fake.stop()


if __name__ == "__main__":
    main()
