"""The facts `director check` judges by, as tables: models, seeds, limits, required files and keys.

Everything here comes from ../shared/reference/mlperf.md (§ numbers below) and power-workflow.md;
each rule id maps to the text that says where it comes from (SOURCES).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class ModelRule:
    """Per-model minimums (mlperf.md §2.3): performance_sample_count and Offline samples per query."""

    performance_sample_count: int
    offline_min_samples_per_query: int


MODELS: Dict[str, ModelRule] = {
    "resnet50": ModelRule(1024, 24576),
    "yolo": ModelRule(64, 1525),
    "bert": ModelRule(10833, 10833),
    "3d-unet": ModelRule(0, 43),  # 0 = the whole dataset
    "llama3_1-8b-edge": ModelRule(5000, 5000),
    "whisper": ModelRule(1633, 1633),
    "pointpainting": ModelRule(1024, 6636),
}

# Benchmark folder names that differ from mlperf.conf's model names (accuracy variants, short names).
MODEL_ALIASES: Dict[str, str] = {
    "resnet": "resnet50",
    "bert-99": "bert",
    "bert-99.9": "bert",
    "3d-unet-99": "3d-unet",
    "3d-unet-99.9": "3d-unet",
}

ACCURACY_TARGETS_PERCENT: Dict[str, float] = {
    "resnet50": 0.99 * 76.46,  # top-1, 99 % of the fp32 reference (mlperf.md §2.3, §12)
}


def model_name(benchmark: Optional[str]) -> Optional[str]:
    """mlperf.conf's model name of a benchmark folder name, or None when unknown."""
    if not benchmark:
        return None
    name = MODEL_ALIASES.get(benchmark, benchmark)
    return name if name in MODELS else None


@dataclass(frozen=True)
class Seeds:
    """The three LoadGen RNG seeds of one round (mlperf.md §3)."""

    qsl: int
    sample_index: int
    schedule: int


SEEDS: Dict[str, Seeds] = {
    "v6.1": Seeds(2085463073848966840, 2747215439041700203, 16159082839903944936),
    "v6.0": Seeds(2465351861681999779, 14276810075590677512, 3936089224930324775),
    # Read from the effective_*_rng_seed entries of the real v3.0 logs in
    # ../shared/fixtures/mlperf-v3.0-orin-maxq (NVIDIA Orin, both scenarios, both passes).
    "v3.0": Seeds(10003631887983097364, 17183018601990103738, 12134888396634371638),
}

# Rules that a result of an older round was not judged by: for it they warn instead of failing.
_V6_KEYS = "the v6.x checker's list (mlperf.md §13); round v3.0's own list is not in these rules"
NOT_IN_ROUND: Dict[str, Dict[str, str]] = {
    "v3.0": {
        # PR power-dev#311 (2023-05-27) ran the new check over the v3.0 results: it flagged, among others, an
        # Offline result 11.54 % below its ranging power, the fixture's NVIDIA Orin MaxQ one.
        "power.testing_vs_ranging": "added after v3.0 (power-dev#311, #313, May 2023)",
        "system.required_keys": _V6_KEYS,
        "system.non_empty_keys": _V6_KEYS,
    },
}

MIN_DURATION_MS = 600_000
EARLY_STOPPING_SCENARIOS = ("SingleStream", "MultiStream", "Server")
SCENARIOS = ("SingleStream", "MultiStream", "Offline", "Server")

# Power limits (power-workflow.md §6; the 800 ms tolerance is check 6a's and check 9's intent).
CLOCK_LIMIT_NS = 800_000_000
UNCERTAINTY_LIMIT = 0.01
TESTING_POWER_MIN_RATIO = 0.95
WINDOW_MARGIN_INTERVALS = 2  # spl.txt rows to spare on each side of the window, in median sample intervals
GAP_FACTOR = 2.0
PTD_SAMPLE_INTERVAL_NS = 1_000_000_000  # power-dev sends Go,1000: one sample a second

# Files (mlperf.md §11).
PASS_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "spl.txt")
PASS_EXTRAS = ("mlperf_log_accuracy.json", "mlperf_log_trace.json", "results.json", ".gitkeep")
PTD_POWER_FILES = ("client.json", "client.log", "ptd_logs.txt", "server.json", "server.log")
EDGEPOWER_POWER_FILES = ("edgepower_run.json", "samples.csv")
SCENARIO_FILES = ("measurements.json", "user.conf", "README.md")
ACCURACY_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json", "accuracy.txt")

# System description (mlperf.md §13).
SYSTEM_REQUIRED = (
    "division", "submitter", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_storage_capacity",
    "host_storage_type", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack", "host_processor_frequency",
    "host_processor_caches", "host_memory_configuration", "host_processor_interconnect", "host_networking",
    "host_networking_topology", "accelerator_frequency", "accelerator_host_interconnect",
    "accelerator_interconnect", "accelerator_interconnect_topology", "accelerator_memory_configuration",
    "accelerator_on-chip_memories", "cooling", "hw_notes", "sw_notes", "host_network_card_count",
    "system_type_detail",
)
SYSTEM_NON_EMPTY = (
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count", "host_memory_capacity",
    "host_memory_configuration", "host_storage_capacity", "host_storage_type", "host_networking",
    "host_network_card_count", "host_networking_topology", "accelerators_per_node", "accelerator_model_name",
    "accelerator_memory_capacity", "accelerator_host_interconnect", "accelerator_memory_configuration",
    "accelerator_interconnect", "cooling", "framework", "operating_system", "other_software_stack",
)
# Expected of power systems, may stay empty (not enforced by the checker).
SYSTEM_POWER_KEYS = (
    "power_management", "filesystem", "boot_firmware_version", "management_firmware_version", "other_hardware",
    "number_of_type_nics_installed", "nics_enabled_firmware", "nics_enabled_os", "nics_enabled_connected",
    "network_speed_mbit", "power_supply_quantity_and_rating_watts", "power_supply_details", "disk_drives",
    "disk_controllers", "system_power_only",
)
SYSTEM_STATUSES = ("available", "preview", "rdi")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
DIVISIONS = ("closed", "open", "network")

MEASUREMENTS_NON_EMPTY = (
    "input_data_types", "retraining", "starting_weights_filename", "weight_data_types", "weight_transformations",
)

_CHECKER = "submission checker"
_POWER = "power checker (power-dev compliance/check.py)"

SOURCES: Dict[str, str] = {
    "loadgen.detail_log": f"{_CHECKER}: detail log's first line starts with ':::MLLOG' (mlperf.md §12)",
    "loadgen.validity": "result_validity == VALID: the old checker's rule, required here (mlperf.md §12, §14)",
    "loadgen.min_duration": f"{_CHECKER}: effective_min_duration_ms >= 600000 (mlperf.md §1, §12)",
    "loadgen.early_stopping": f"{_CHECKER}: SingleStream early_stopping_met (mlperf.md §2.1, §12)",
    "loadgen.seeds": f"{_CHECKER}: effective_*_rng_seed = the round's mlperf.conf seeds (mlperf.md §3)",
    "loadgen.samples_per_query": f"{_CHECKER}: Offline effective_samples_per_query >= the model's minimum "
                                 "(mlperf.md §2.2, §2.3)",
    "loadgen.performance_sample_count": f"{_CHECKER}: effective_performance_sample_count >= the model's "
                                        "(mlperf.md §2.3, §4)",
    "loadgen.errors": f"{_CHECKER}: no LoadGen errors in the detail log (mlperf.md §5.3, §5.4, §12)",
    "accuracy.files": f"{_CHECKER}: accuracy.txt and mlperf_log_accuracy.json present (mlperf.md §11, §12)",
    "accuracy.target": f"{_CHECKER}: accuracy.txt >= the model's target in the closed division (mlperf.md §2.3, §12)",
    "power.metric": f"{_CHECKER}: mean W of run_1/spl.txt rows strictly inside power_begin..power_end with "
                    "W > 0 (mlperf.md §10)",
    "power.testing_ranges_fixed": "rules: no auto-ranging in the testing pass (power-workflow.md §1, §3 step 5)",
    "power.testing_vs_ranging": f"{_POWER} check 6d: testing avg W > 95 % of ranging's (power-workflow.md §6)",
    "power.window_margin": "power-dev samples 10 s before and after the workload; the window must lie inside "
                           "spl.txt with >= 2 sample intervals to spare (power-workflow.md §3)",
    "power.gaps": "a gap stays a gap (DESIGN.md): spl.txt stamps in the window at most 2x the median interval "
                  "apart; the plain mean would hide it (power-workflow.md §7.10)",
    "power.no_data": f"{_POWER} check 9: no bad readings in testing; spl.txt W <= 0 / -1 rows and overrange "
                     "samples are not measurements (power-workflow.md §5, §6)",
    "power.uncertainty": f"{_POWER} check 9, as intended: sample uncertainty <= 1.00 % in testing "
                         "(power-workflow.md §6, §7.2)",
    "power.clock_sync": f"{_POWER} check 6a: |client - server| clock <= 800 ms (power-workflow.md §6)",
    "power.loadgen_window": f"{_POWER} check 6b: each pass's power_begin/end inside the client's phases 1..2 "
                            "(power-workflow.md §6)",
    "power.workflow": "rules: only PTDaemon + the power-dev client/server may measure a submission "
                      "(power-workflow.md §1)",
    "tree.missing_file": f"{_CHECKER}: required files of a power result (mlperf.md §11)",
    "tree.extra_file": f"{_CHECKER}: run_1/, ranging/ and power/ hold exactly their files (mlperf.md §11)",
    "tree.empty_file": f"{_CHECKER}: non-empty user.conf and README.md (mlperf.md §12)",
    "tree.bad_file": "a file the checks need could not be read",
    "tree.measurements_keys": f"{_CHECKER}: measurements.json non-empty keys (mlperf.md §12)",
    "system.required_keys": f"{_CHECKER}: system description required keys (mlperf.md §13)",
    "system.non_empty_keys": f"{_CHECKER}: system description keys that must be non-empty (mlperf.md §13)",
    "system.status": f"{_CHECKER}: status in available, preview, rdi (mlperf.md §12)",
    "system.system_type": f"{_CHECKER}: system_type in datacenter, edge, datacenter,edge, edge,datacenter "
                          "(mlperf.md §12)",
    "system.path": f"{_CHECKER}: submitter and division match the path (mlperf.md §12)",
}


def seeds_round(qsl: object, sample_index: object, schedule: object) -> Optional[str]:
    """The round whose seeds these are, or None."""
    for name, seeds in SEEDS.items():
        if (qsl, sample_index, schedule) == (seeds.qsl, seeds.sample_index, seeds.schedule):
            return name
    return None


def seeds_text(seeds: Tuple[object, object, object]) -> str:
    """'qsl X, sample_index Y, schedule Z'."""
    return f"qsl {seeds[0]}, sample_index {seeds[1]}, schedule {seeds[2]}"
