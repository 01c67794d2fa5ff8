"""Jetson text formats: tegrastats (both generations), nvpmodel.conf and -q, nv_tegra_release, NC labels."""

from __future__ import annotations

import pytest

from devices.errors import ProfileError
from devices.profiles import PowerMode
from devices.profiles.ina3221 import not_connected
from devices.profiles.tegra import (
    TegraRail, nvpmodel_wants_reboot, parse_l4t_release, parse_nvpmodel_conf, parse_nvpmodel_query,
    parse_tegrastats_line, with_pending_mode,
)
from tests.devices.fakes import ORIN_TEGRASTATS

NANO_JP4 = ("RAM 1733/3964MB (lfb 94x4MB) SWAP 0/1982MB (cached 0MB) IRAM 0/252kB(lfb 252kB) "
            "CPU [12%@1479,3%@1479,5%@1479,2%@1479] EMC_FREQ 3%@1600 GR3D_FREQ 0%@76 APE 25 PLL@24.5C "
            "CPU@27C PMIC@100C GPU@25C AO@32C thermal@26C POM_5V_IN 1038/1134 POM_5V_GPU 0/20 POM_5V_CPU 123/149")


def test_tegrastats_orin_with_units() -> None:
    assert parse_tegrastats_line(ORIN_TEGRASTATS) == {
        "VDD_IN": TegraRail(5.012, 5.012), "VDD_CPU_GPU_CV": TegraRail(0.59, 0.59),
        "VDD_SOC": TegraRail(1.378, 1.378),
    }


def test_tegrastats_older_without_units() -> None:
    assert parse_tegrastats_line(NANO_JP4) == {
        "POM_5V_IN": TegraRail(1.038, 1.134), "POM_5V_GPU": TegraRail(0.0, 0.02),
        "POM_5V_CPU": TegraRail(0.123, 0.149),
    }


def test_tegrastats_agx_skips_nc_and_thor_has_three_values() -> None:
    agx = ("VDD_GPU_SOC 2390mW/2390mW VDD_CPU_CV 796mW/796mW VIN_SYS_5V0 3522mW/3522mW NC 0mW/0mW "
           "VDDQ_VDD2_1V8AO 301mW/301mW")
    assert list(parse_tegrastats_line(agx)) == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]
    assert parse_tegrastats_line("VDD_IN 5139mW/5139mW/5139mW") == {"VDD_IN": TegraRail(5.139, 5.139)}
    assert parse_tegrastats_line("RAM 2185/7620MB SWAP 0/3810MB (cached 0MB)") == {}


def test_nvpmodel_conf_any_attribute_order_and_default() -> None:
    conf = ("< POWER_MODEL ID=0 NAME=MODE_15W >\n< POWER_MODEL NAME=MAXN ID=3 >\n"
            "<POWER_MODEL ID=x NAME=BROKEN>\nPOWER_MODEL ID=4 NAME=NOT_A_HEADER\n< PM_CONFIG DEFAULT=3 >\n")
    assert parse_nvpmodel_conf(conf) == [PowerMode(0, "MODE_15W"), PowerMode(3, "MAXN", True)]


def test_nvpmodel_query() -> None:
    assert parse_nvpmodel_query("NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN_SUPER\n2\n") == (
        "MAXN_SUPER", 2)
    with pytest.raises(ProfileError) as error:
        parse_nvpmodel_query("NV Power Mode: MAXN\nsomething\n")
    assert str(error.value) == "`nvpmodel -q` gave mode MAXN without an id on the next line"
    with pytest.raises(ProfileError) as error:
        parse_nvpmodel_query("bash: nvpmodel: command not found")
    assert str(error.value) == "`nvpmodel -q` output has no 'NV Power Mode:' line: 'bash: nvpmodel: command not found'"


def test_reboot_prompt_and_pending_status() -> None:
    declined = ("NVPM WARN: Golden image context is already created\n"
                "NVPM WARN: Reboot required for changing to this power mode: 1\n"
                "NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:\n"
                "NVPM ERROR: optMask is 1, no request for power mode")
    assert nvpmodel_wants_reboot(declined)
    assert not nvpmodel_wants_reboot("NVPM WARN: fan mode is not set!")
    assert with_pending_mode("pmode:0002 fmode:quiet\n", 3) == "pmode:0003 fmode:quiet"
    assert with_pending_mode("fmode:cool", 12) == "fmode:cool pmode:0012"
    assert with_pending_mode(None, 0) == "pmode:0000"


def test_l4t_release() -> None:
    assert parse_l4t_release("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref") == "35.5.0"
    assert parse_l4t_release("garbage") is None


@pytest.mark.parametrize("label, unused", [("NC", True), ("NC_3", True), ("nc", True), ("VDD_SYNC", False),
                                           ("VDD_IN", False)])
def test_not_connected_labels(label: str, unused: bool) -> None:
    assert not_connected(label) is unused
