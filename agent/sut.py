"""LoadGen glue: the SUT and QSL callbacks over a backend and a dataset, and the measured window.

SingleStream runs each query inline in LoadGen's issue callback: there is never more than one
query in flight, and a hand-off to another thread would only add latency. Offline hands the one
big query to a worker thread (LoadGen wants issue to return promptly) that runs it in batches.
The window is the UTC ns of the first issue and of the last completion, read with time.time_ns()
right where LoadGen itself stamps them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from agent.backends import Backend
from agent.datasets import Dataset, Sample

log = logging.getLogger(__name__)


class Harness:
    """Loads samples for LoadGen, runs its queries, and keeps the window and counts."""

    def __init__(
        self, lg: Any, backend: Backend, dataset: Dataset, scenario: str, batch_size: int, postprocess: str
    ) -> None:
        self.lg = lg
        self.backend = backend
        self.dataset = dataset
        self.scenario = scenario
        self.batch_size = batch_size if backend.dynamic_batch else 1  # samples per runtime call
        self.chunk = batch_size  # Offline samples answered together (a fixed-batch model runs them one by one)
        self.runtime = Durations()
        self.postprocess = postprocess
        self.samples: Dict[int, Sample] = {}
        self.first_issue_ns: Optional[int] = None
        self.last_complete_ns: Optional[int] = None
        self.completed_samples = 0
        self.issued_queries = 0
        self.error: Optional[BaseException] = None
        self._work: "queue.Queue[Optional[list]]" = queue.Queue()
        self._worker: Optional[threading.Thread] = None

    # QSL callbacks -------------------------------------------------------------------------
    def load_samples(self, indices: Sequence[int]) -> None:
        """Read the samples LoadGen is about to use into memory."""
        for index in indices:
            self.samples[index] = self.dataset.load(index)

    def unload_samples(self, indices: Sequence[int]) -> None:
        """Forget samples LoadGen is done with."""
        for index in indices:
            self.samples.pop(index, None)

    # SUT callbacks -------------------------------------------------------------------------
    def issue_queries(self, query_samples: List[Any]) -> None:
        """LoadGen's issue callback."""
        if self.first_issue_ns is None:
            self.first_issue_ns = time.time_ns()
        self.issued_queries += 1
        if self.scenario == "SingleStream":
            self._run(query_samples)
        else:
            self._work.put(list(query_samples))

    def flush_queries(self) -> None:
        """LoadGen's flush callback (nothing is buffered here)."""

    # Worker --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the Offline worker thread."""
        if self.scenario == "Offline":
            self._worker = threading.Thread(target=self._work_loop, name="offline-worker", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        """Stop the worker thread."""
        if self._worker is not None:
            self._work.put(None)
            self._worker.join()
            self._worker = None

    def _work_loop(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            for start in range(0, len(item), self.chunk):
                self._run(item[start : start + self.chunk])

    def _run(self, query_samples: List[Any]) -> None:
        lg = self.lg
        try:
            payload = self._infer(query_samples)
        except BaseException as e:  # report, then answer LoadGen so that it does not wait forever
            if self.error is None:
                self.error = e
            log.error("inference failed: %s", e)
            payload = np.zeros((len(query_samples), 1), dtype=np.int64)
        row_bytes = payload.strides[0]
        base = payload.ctypes.data
        responses = [
            lg.QuerySampleResponse(q.id, base + i * row_bytes, row_bytes) for i, q in enumerate(query_samples)
        ]
        self.last_complete_ns = time.time_ns()
        # payload stays referenced until QuerySamplesComplete returns (LoadGen copies it then).
        lg.QuerySamplesComplete(responses)
        self.completed_samples += len(query_samples)

    def _infer(self, query_samples: List[Any]) -> np.ndarray:
        """The payload rows of these queries: one runtime call, or one per sample for a fixed-batch model."""
        if len(query_samples) > 1 and not self.backend.dynamic_batch:
            return np.concatenate([self._infer([q]) for q in query_samples])
        inputs = self._batch([self.samples[q.index] for q in query_samples])
        start = time.perf_counter_ns()
        outputs = self.backend.run(inputs)
        self.runtime.add(time.perf_counter_ns() - start)
        return self._payload(outputs, len(query_samples))

    def _batch(self, samples: List[Sample]) -> List[np.ndarray]:
        if len(samples) == 1:
            return samples[0]
        return [np.concatenate(arrays, axis=0) for arrays in zip(*samples)]

    def _payload(self, outputs: List[np.ndarray], count: int) -> np.ndarray:
        """One contiguous row per sample: the arg-max class (int64), or the first output's bytes."""
        first = np.asarray(outputs[0])
        if self.postprocess == "argmax":
            return np.ascontiguousarray(first.reshape(count, -1).argmax(axis=1).astype(np.int64).reshape(count, 1))
        return np.ascontiguousarray(first.reshape(count, -1))


class Durations:
    """Runtime call durations (ns): count and total of all, percentiles over the first CAPACITY."""

    CAPACITY = 1 << 20  # 8 MB; a 600 s run of a 1 ms model makes 600,000 calls

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self._kept = np.empty(self.CAPACITY, dtype=np.int64)

    def add(self, duration_ns: int) -> None:
        """Record one call."""
        if self.count < self.CAPACITY:
            self._kept[self.count] = duration_ns
        self.count += 1
        self.total_ns += duration_ns

    def summary(self) -> Dict[str, Any]:
        """calls, total, mean and p50/p90/p99 (ns) of the runtime's own time, for result.json."""
        kept = self._kept[: min(self.count, self.CAPACITY)]
        if not len(kept):
            return {"calls": 0}
        p50, p90, p99 = (float(v) for v in np.percentile(kept, [50, 90, 99]))
        return {"calls": self.count, "total_ns": self.total_ns, "mean_ns": self.total_ns / self.count,
                "p50_ns": p50, "p90_ns": p90, "p99_ns": p99}
