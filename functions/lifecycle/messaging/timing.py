"""Time for the message path: the wall clock leases are read against, and the invocation's
time budget (how long the function has before Lambda stops it).

The dispatcher spends the budget, never more: it retries a lost "sent" mark and waits out a
claim in doubt only while the invocation can still finish and report its batch. One object
holds the clock, the budget and the way to wait, so a test can run all three on virtual time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

# Kept back from the budget to return the batch response and flush metrics and logs.
RESERVE_SECONDS = 3.0
# The send clients' timeouts (never retried by the SDK: a retried timeout could deliver twice),
# and so the longest one send can take, rendering included.
SEND_CONNECT_SECONDS = 3
SEND_READ_SECONDS = 10
SEND_SECONDS = float(SEND_CONNECT_SECONDS + SEND_READ_SECONDS + 2)
# The table clients' timeouts and attempts (their writes are conditional, so the SDK may retry
# them), and so the longest one table call can take, the SDK's backoff between attempts
# included (standard mode: at most 1 s, then 2 s, with jitter).
TABLE_CONNECT_SECONDS = 2
TABLE_READ_SECONDS = 3
TABLE_ATTEMPTS = 3
TABLE_CALL_SECONDS = float(TABLE_ATTEMPTS * (TABLE_CONNECT_SECONDS + TABLE_READ_SECONDS) + 3)
# What a message needs once claimed: one send and one "sent" mark.
DISPATCH_SECONDS = SEND_SECONDS + TABLE_CALL_SECONDS
# Pauses between attempts of a write that must not be lost (seconds, doubling up to the last).
PERSIST_PAUSE_FIRST = 0.05
PERSIST_PAUSE_MOST = 2.0
# The budget when no invocation started one (tools, tests that call the dispatcher directly):
# as long as a stream function's, room to wait out a lease and still send.
UNTIMED_SECONDS = 90.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Budget:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._deadline: float | None = None

    def start(self, seconds_left: float) -> None:
        """A new invocation begins with `seconds_left` (Lambda's remaining time)."""
        self._deadline = self._monotonic() + seconds_left

    def now(self) -> datetime:
        return self._clock()

    def left(self) -> float:
        """Seconds the dispatcher may still spend (the reserve already taken off). Outside an
        invocation (a tool, a test), the budget is UNTIMED_SECONDS from its first use."""
        if self._deadline is None:
            self._deadline = self._monotonic() + UNTIMED_SECONDS
        return self._deadline - self._monotonic() - RESERVE_SECONDS

    def allows(self, seconds: float) -> bool:
        return self.left() >= seconds

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`, or what is left of the budget if that is less."""
        pause = min(seconds, max(self.left(), 0.0))
        if pause > 0:
            self._sleep(pause)

    def persist(self, write: Callable[[], object]) -> Exception | None:
        """Run `write` until it succeeds, backing off, for as long as the budget lasts: for the
        record of something that already happened (a message the provider accepted, an alert
        published), which failing the trigger would make happen again. None once written,
        else the last error."""
        pause = PERSIST_PAUSE_FIRST
        while True:
            try:
                write()
            except Exception as error:
                # Another attempt must fit whole: the pause and the longest a table call takes.
                if not self.allows(pause + TABLE_CALL_SECONDS):
                    return error
                self.wait(pause)
                pause = min(pause * 2, PERSIST_PAUSE_MOST)
            else:
                return None
