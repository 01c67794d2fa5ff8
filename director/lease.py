"""Keeping a claimed job's lease alive while its session runs, from a thread of its own."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

from director.errors import DirectorError
from director.store import Claim, Store

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews a claim's lease every lease_s / 3 while open; on_lost(reason) is called once if the job was taken over.

    A store that cannot be written for a moment is logged and tried again at the next beat: the lease
    still has two beats to run before another worker may take the job.
    """

    def __init__(self, store: Store, claim: Claim, on_lost: Optional[Callable[[str], None]] = None) -> None:
        self.store = store
        self.claim = claim
        self.on_lost = on_lost or (lambda reason: None)
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{claim.key}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.claim.lease_s / 3):
            try:
                held = self.store.heartbeat(self.claim)
            except DirectorError as e:
                log.warning("%s: lease not renewed: %s", self.claim.key, e)
                continue
            if not held:
                self.lost = True
                reason = f"lease lost: attempt {self.claim.attempt} of {self.claim.key} was taken over by another worker"
                log.warning("%s", reason)
                self.on_lost(reason)
                return
