"""systems/<system>.json and measurements.json: what the runs tell, the rest from the user's file or asked for.

Keys and which must be non-empty follow the submission checker (reference/mlperf.md §12–13). A board's
facts give the processor, memory, OS and software; what only a person knows (storage, cooling,
networking, how the weights were made) comes from the `[system]` and `[measurements]` tables of a
TOML file, or is asked for on a terminal. Nothing is invented: a missing answer is an error.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from director.errors import BadInput
from director.submission.rules import MEASUREMENTS_NON_EMPTY, SYSTEM_POWER_KEYS, SYSTEM_REQUIRED, SYSTEM_STATUSES

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

SYSTEM_KEYS = SYSTEM_REQUIRED
MEASUREMENT_KEYS = MEASUREMENTS_NON_EMPTY
DIVISIONS = ("open", "closed")  # the export's; "network" needs a datacenter system
CATEGORIES = SYSTEM_STATUSES

# The runtimes here run on the CPU: an accelerator on the board is not what was measured.
_CPU_ONLY = {"accelerators_per_node": 0, "accelerator_model_name": "N/A", "accelerator_memory_capacity": "N/A",
             "accelerator_host_interconnect": "N/A", "accelerator_memory_configuration": "N/A",
             "accelerator_interconnect": "N/A", "accelerator_frequency": "", "accelerator_interconnect_topology": "",
             "accelerator_on-chip_memories": ""}
_DTYPES = {"float32": "fp32", "float16": "fp16", "int8": "int8", "uint8": "uint8", "int32": "int32"}

Ask = Callable[[str], str]


def load_answers(path: Optional[str]) -> Dict[str, Dict[str, Any]]:
    """The `[system]` and `[measurements]` tables of the user's TOML file ({} without a file)."""
    if path is None:
        return {"system": {}, "measurements": {}}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path}: not valid TOML ({e})") from e
    unknown = sorted(set(data) - {"system", "measurements"})
    if unknown:
        raise BadInput(f"{path}: unknown table {unknown[0]!r} (expected [system] and [measurements])")
    system, measurements = data.get("system", {}), data.get("measurements", {})
    for table, known in (("system", SYSTEM_KEYS + SYSTEM_POWER_KEYS), ("measurements", MEASUREMENT_KEYS)):
        extra = sorted(set(data.get(table, {})) - set(known))
        if extra:
            raise BadInput(f"{path}: [{table}] has unknown key {extra[0]!r} (expected one of the MLPerf keys, "
                           f"e.g. {', '.join(known[:3])}, ...)")
    return {"system": dict(system), "measurements": dict(measurements)}


def system_from_run(run: Mapping[str, Any], name: str, division: str, submitter: str, status: str) -> Dict[str, Any]:
    """Every key the run's facts can fill; the others empty."""
    device = run.get("device") or {}
    facts, info = device.get("facts") or {}, device.get("agent_info") or {}
    versions = ((run.get("passes") or {}).get("run_1") or {}).get("agent", {}).get("versions") or {}
    memory = facts.get("mem_total_bytes") or info.get("memory_bytes")
    system: Dict[str, Any] = {key: "" for key in SYSTEM_KEYS + SYSTEM_POWER_KEYS}
    system.update(_CPU_ONLY)
    system.update({
        "division": division, "submitter": submitter, "status": status, "system_name": name,
        "number_of_nodes": 1, "system_type": "edge", "system_type_detail": "edge-device",
        "host_processor_model_name": info.get("cpu_model") or "", "host_processors_per_node": 1,
        "host_processor_core_count": info.get("cpu_physical") or facts.get("cpu_online_count") or "",
        "host_memory_capacity": f"{memory / 2**30:.0f} GB" if memory else "",
        "framework": versions.get("runtime") or "",
        "operating_system": " ".join(x for x in (facts.get("os_name") or info.get("distribution"),
                                                  facts.get("kernel") and f"(kernel {facts['kernel']})") if x),
        "other_software_stack": ", ".join(x for x in (
            versions.get("python") and f"Python {versions['python']}",
            versions.get("loadgen") and f"mlperf_loadgen {versions['loadgen']}",
            versions.get("agent") and f"edgepower agent {versions['agent']}") if x),
        "hw_notes": " ".join(x for x in (facts.get("model"), device.get("notes")) if x),
        "system_power_only": True,
    })
    return system


def measurements_from_run(run: Mapping[str, Any]) -> Dict[str, Any]:
    """The measurements.json keys the run's model can fill."""
    model = ((run.get("passes") or {}).get("run_1") or {}).get("agent", {}).get("model") or {}
    dtypes = sorted({_DTYPES.get(i.get("dtype"), i.get("dtype")) for i in model.get("inputs") or [] if i.get("dtype")})
    path = (run.get("model") or {}).get("path") or model.get("path") or ""
    return {"input_data_types": ",".join(dtypes), "retraining": "", "starting_weights_filename": os.path.basename(path),
            "weight_data_types": "", "weight_transformations": ""}


def complete(table: str, filled: Dict[str, Any], answers: Mapping[str, Any], required: Sequence[str],
             ask: Optional[Ask], source: str) -> Dict[str, Any]:
    """filled with the user's answers over it; what is still empty and required is asked for, else an error."""
    result = dict(filled)
    result.update(answers)
    missing = [key for key in required if _empty(result.get(key))]
    if missing and ask is None:
        raise BadInput(f"{table}: no value for {', '.join(missing)}; give them in the [{table}] table of "
                       f"{source or 'a file passed with --answers FILE'}")
    for key in missing:
        while _empty(result.get(key)):
            result[key] = ask(f"{table}.{key}: ").strip()
    return result


def terminal_ask() -> Optional[Ask]:
    """A prompt on the terminal, or None when stdin is not one (then a missing answer is an error)."""
    if not sys.stdin.isatty():
        return None
    return input


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())

