"""Classification accuracy from mlperf_log_accuracy.json, written to accuracy.txt as MLPerf's script does.

Each response is the arg-max class as one little-endian int64. A prediction is right when
arg-max + label_offset equals the label (label_offset = -1 for 1001-class models whose class 0 is
"background"). Each QSL index counts once, as in MLPerf's accuracy-imagenet.py.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from agent.errors import BadInput


def read_accuracy_log(path: str) -> List[Dict[str, Any]]:
    """The records of an accuracy log: seq_id, qsl_idx and hex data."""
    try:
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
    except FileNotFoundError:
        raise BadInput(f"accuracy log not found: {path}") from None
    except ValueError as e:
        raise BadInput(f"{path}: not a LoadGen accuracy log ({e})") from None
    if not isinstance(records, list):
        raise BadInput(f"{path}: not a LoadGen accuracy log (expected a JSON list)")
    return records


def _response(record: Any, number: int, log_path: str) -> Tuple[int, bytes]:
    """The QSL index and the response bytes of the NUMBERth record of an accuracy log."""
    try:
        return int(record["qsl_idx"]), bytes.fromhex(record["data"])
    except KeyError as e:
        problem = f"no {e} field"
    except (TypeError, ValueError) as e:
        problem = str(e)
    raise BadInput(f"{log_path}: record {number} is not a LoadGen response ({problem}; expected an object with "
                   "qsl_idx and hex data)")


def score_classification(
    log_path: str, labels: Sequence[Optional[int]], label_offset: int = 0, out_path: Optional[str] = None
) -> Dict[str, Any]:
    """Top-1 accuracy of the responses against the labels; optionally write accuracy.txt."""
    seen = set()
    good = 0
    for number, record in enumerate(read_accuracy_log(log_path), 1):
        index, data = _response(record, number, log_path)
        if index in seen:
            continue
        seen.add(index)
        if not 0 <= index < len(labels) or labels[index] is None:
            raise BadInput(f"{log_path}: no label for sample {index}")
        if len(data) != 8:
            raise BadInput(f"{log_path}: response of sample {index} is {len(data)} bytes, not one int64 class")
        predicted = int.from_bytes(data, "little", signed=True) + label_offset
        good += int(predicted == labels[index])
    total = len(seen)
    percent = 100.0 * good / total if total else 0.0
    line = f"accuracy={percent:.3f}%, good={good}, total={total}"
    if out_path:
        with open(out_path, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    return {"top1_percent": percent, "good": good, "total": total, "line": line}
