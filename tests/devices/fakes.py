"""Fake boards for tests: sysfs/proc/etc trees under a tmp folder and stub commands first on PATH.

The stubs are small /bin/sh scripts that keep their state in `<root>/.stub/` (the live power mode,
the clock state, vcgencmd answers) and log every call to `<root>/.stub/calls`. A mode that needs a
reboot is declined by nvpmodel (nothing changes) unless recorded in var/lib/nvpmodel/status, which
the fake `reboot` applies, together with a new boot_id, as a real boot would.
"""

from __future__ import annotations

import os
import shlex
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from devices.inventory import Device
from tests.devices.localshell import LocalShell

BOOT_ID = "6f1c1f9e-3b52-4d7c-9a57-0d1f2e3c4b5a"

STUB_SUDO = """
[ "$1" = "-n" ] && shift
echo "sudo $*" >> "$S/calls"
exec "$@"
"""

STUB_REBOOT = """
echo "reboot $*" >> "$S/calls"
cat /proc/sys/kernel/random/uuid > "$ROOT/proc/sys/kernel/random/boot_id"
if [ -f "$ROOT/var/lib/nvpmodel/status" ]; then
    pm=$(sed -n 's/.*pmode:0*\\([0-9][0-9]*\\).*/\\1/p' "$ROOT/var/lib/nvpmodel/status")
    [ -n "$pm" ] && echo "$pm" > "$S/nvpmodel_current"
fi
[ -f "$S/clocks" ] && echo off > "$S/clocks"
exit 0
"""

STUB_NVPMODEL = """
echo "nvpmodel $*" >> "$S/calls"
CONF="$ROOT/etc/nvpmodel.conf"
STATUS="$ROOT/var/lib/nvpmodel/status"
name_of() { sed -n "s/^< POWER_MODEL ID=$1 NAME=\\([^ >]*\\) >.*/\\1/p" "$CONF"; }
case "$1" in
    -q)
        cur=$(cat "$S/nvpmodel_current")
        echo "NVPM WARN: fan mode is not set!"
        echo "NV Power Mode: $(name_of "$cur")"
        echo "$cur"
        ;;
    -m)
        id="$2"
        name=$(name_of "$id")
        if [ -z "$name" ]; then echo "NVPM ERROR: Invalid power mode: $id"; exit 1; fi
        if grep -qx "$id" "$S/nvpmodel_reboot_ids" 2>/dev/null; then
            echo "NVPM WARN: Golden image context is already created"
            echo "NVPM WARN: Reboot required for changing to this power mode: $id"
            echo "NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:"
            read answer || answer=""
            if [ "$answer" = YES ] || [ "$answer" = yes ]; then
                printf 'pmode:%04d fmode:quiet\\n' "$id" > "$STATUS"
                echo "NVPM WARN: rebooting"
                exec reboot
            fi
            echo "NVPM ERROR: optMask is 1, no request for power mode"
            exit 0
        fi
        echo "$id" > "$S/nvpmodel_current"
        printf 'pmode:%04d fmode:quiet\\n' "$id" > "$STATUS"
        ;;
    *) echo "nvpmodel stub: unsupported $*" >&2; exit 2 ;;
esac
"""

STUB_JETSON_CLOCKS = """
echo "jetson_clocks $*" >> "$S/calls"
case "$1" in
    "") echo on > "$S/clocks" ;;
    --store) cat "$S/clocks" > "$2" ;;
    --restore)
        if [ ! -f "$2" ]; then echo "Error: $2 file not found" >&2; exit 1; fi
        cat "$2" > "$S/clocks" ;;
    --show)
        if [ "$(cat "$S/clocks")" = on ]; then lo=1510400; glo=624750000; else lo=729600; glo=306000000; fi
        echo "SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Developer Kit"
        echo "Online CPUs: 0-5"
        for c in 0 1 2 3 4 5; do
            echo "cpu$c: Online=1 Governor=schedutil MinFreq=$lo MaxFreq=1510400 CurrentFreq=$lo IdleStates: WFI=1 cpuidle=1"
        done
        echo "GPU MinFreq=$glo MaxFreq=624750000 CurrentFreq=$glo"
        echo "EMC MinFreq=204000000 MaxFreq=2133000000 CurrentFreq=2133000000 FreqOverride=0"
        echo "FAN Dynamic Speed control=active hwmon2_pwm1=57"
        echo "NV Power Mode: $(sed -n "s/^< POWER_MODEL ID=$(cat "$S/nvpmodel_current") NAME=\\([^ >]*\\) >.*/\\1/p" "$ROOT/etc/nvpmodel.conf")"
        ;;
    *) echo "jetson_clocks stub: unsupported $*" >&2; exit 2 ;;
esac
"""

STUB_TEGRASTATS = """
echo "tegrastats $*" >> "$S/calls"
interval=1000
[ "$1" = "--interval" ] && interval="$2"
pause=$(echo "$interval" | awk '{print $1 / 1000}')
while :; do cat "$S/tegrastats_line"; sleep "$pause"; done
"""

STUB_VCGENCMD = """
echo "vcgencmd $*" >> "$S/calls"
if [ -f "$S/vcgencmd_fail" ]; then cat "$S/vcgencmd_fail" >&2; exit 255; fi
case "$1" in
    measure_temp) cat "$S/measure_temp" ;;
    get_throttled) cat "$S/get_throttled" ;;
    pmic_read_adc)
        if [ -n "$2" ]; then grep -E "^ *$2 " "$S/pmic_read_adc"; else cat "$S/pmic_read_adc"; fi ;;
    *) echo "Command not registered" >&2; exit 255 ;;
esac
"""

ORIN_NANO_CONF = """\
# nvpmodel.conf for a fake Orin Nano (format as on the board)
< PARAM TYPE=FILE NAME=CPU_ONLINE >
CORE_0 /sys/devices/system/cpu/cpu0/online

< POWER_MODEL ID=0 NAME=15W >
CPU_ONLINE CORE_0 1
< POWER_MODEL ID=1 NAME=25W >
CPU_ONLINE CORE_0 1
< POWER_MODEL ID=2 NAME=MAXN_SUPER >
CPU_ONLINE CORE_0 1
< POWER_MODEL ID=3 NAME=7W >
CPU_ONLINE CORE_0 1

< PM_CONFIG DEFAULT=2 >
"""

ORIN_TEGRASTATS = ("01-14-2025 10:12:01 RAM 2185/7620MB (lfb 5x4MB) SWAP 0/3810MB (cached 0MB) "
                   "CPU [2%@729,1%@729,0%@729,0%@729,0%@729,0%@729] EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305] "
                   "cpu@47.25C soc2@46.5C VDD_IN 5012mW/5012mW VDD_CPU_GPU_CV 590mW/590mW "
                   "VDD_SOC 1378mW/1378mW")

PI5_PMIC = """\
 3V7_WL_SW_A current(0)=0.09368929A
   3V3_SYS_A current(1)=0.05074500A
   1V8_SYS_A current(2)=0.18929140A
  DDR_VDD2_A current(3)=0.02341800A
  DDR_VDDQ_A current(4)=0.00000000A
   1V1_SYS_A current(5)=0.18343280A
    0V8_SW_A current(6)=0.36885600A
  VDD_CORE_A current(7)=6.22421000A
   3V3_DAC_A current(17)=0.00012210A
   3V3_ADC_A current(18)=0.00048840A
   0V8_AON_A current(16)=0.00409860A
      HDMI_A current(22)=0.02271060A
 3V7_WL_SW_V volt(8)=3.71581200V
   3V3_SYS_V volt(9)=3.31224600V
   1V8_SYS_V volt(10)=1.80024000V
  DDR_VDD2_V volt(11)=1.11160000V
  DDR_VDDQ_V volt(12)=0.60048000V
   1V1_SYS_V volt(13)=1.10512000V
    0V8_SW_V volt(14)=0.80244000V
  VDD_CORE_V volt(15)=0.86173300V
   3V3_DAC_V volt(20)=3.31135000V
   3V3_ADC_V volt(21)=3.30878500V
   0V8_AON_V volt(19)=0.79926000V
      HDMI_V volt(23)=5.08836000V
     EXT5V_V volt(24)=5.09066000V
      BATT_V volt(25)=nanV
"""


@dataclass(frozen=True)
class Hwmon:
    """One INA3221 hwmon folder to fake: i2c device, hwmon name, channels (label, mV, mA) by index."""

    i2c: str
    hwmon: str
    channels: Mapping[int, Tuple[str, int, int]]


@dataclass
class FakeBoard:
    """A fake board: its root (the device's fs_root) and its stub bin folder (first on PATH)."""

    root: Path
    bin: Path
    name: str = "board"

    @property
    def state(self) -> Path:
        """The stubs' state folder."""
        return self.root / ".stub"

    def write(self, relative: str, text: str) -> Path:
        """Create or replace a file under the root (parents made)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def read(self, relative: str) -> str:
        """A file's text under the root."""
        return (self.root / relative).read_text()

    def calls(self) -> List[str]:
        """Every stub call so far, one line each (`sudo nvpmodel -m 0`, `nvpmodel -m 0` ...)."""
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def device(self, profile: str = "linux", **changes: object) -> Device:
        """A local Device whose commands find the stubs first and whose reads go to the fake tree."""
        base = Device(
            name=self.name, kind="local", profile=profile, sudo="passwordless", fs_root=str(self.root),
            env={"PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"},
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    def shell(self, device: Optional[Device] = None) -> LocalShell:
        """A LocalShell for DEVICE (default: device())."""
        return LocalShell(device or self.device())

    def stub(self, name: str, body: str) -> None:
        """Install a stub command (POSIX sh) that knows ROOT and S (its state folder)."""
        script = (f"#!/bin/sh\nROOT={shlex.quote(str(self.root))}\nS=\"$ROOT/.stub\"\n"
                  + textwrap.dedent(body).lstrip("\n"))
        path = self.bin / name
        path.write_text(script)
        path.chmod(0o755)


def linux_board(
    tmp: Path,
    name: str = "board",
    zones: Iterable[Tuple[str, Optional[int]]] = (("cpu-thermal", 47250), ("gpu-thermal", 45500)),
    policies: Mapping[str, Tuple[str, str]] = {
        "policy0": ("schedutil", "conservative ondemand userspace powersave performance schedutil"),
        "policy4": ("schedutil", "conservative ondemand userspace powersave performance schedutil"),
    },
    online: str = "0-5",
) -> FakeBoard:
    """A Linux tree: proc (kernel, hostname, boot_id, meminfo), cpufreq policies, thermal zones, os-release."""
    board = FakeBoard(tmp / name / "root", tmp / name / "bin", name)
    board.bin.mkdir(parents=True)
    board.state.mkdir(parents=True)
    board.write("proc/sys/kernel/osrelease", "5.15.148-tegra\n")
    board.write("proc/sys/kernel/hostname", f"{name}-host\n")
    board.write("proc/sys/kernel/random/boot_id", BOOT_ID + "\n")
    board.write("proc/meminfo", "MemTotal:        7990892 kB\nMemFree:         5512340 kB\n"
                                "MemAvailable:    6623480 kB\nBuffers:           71424 kB\n")
    board.write("etc/os-release", 'NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\nID=ubuntu\n')
    board.write("sys/devices/system/cpu/online", online + "\n")
    for policy, (governor, available) in policies.items():
        board.write(f"sys/devices/system/cpu/cpufreq/{policy}/scaling_governor", governor + "\n")
        board.write(f"sys/devices/system/cpu/cpufreq/{policy}/scaling_available_governors", available + "\n")
    for index, (kind, millideg) in enumerate(zones):
        board.write(f"sys/class/thermal/thermal_zone{index}/type", kind + "\n")
        if millideg is not None:  # a zone whose temp cannot be read has no temp file here
            board.write(f"sys/class/thermal/thermal_zone{index}/temp", f"{millideg}\n")
    (board.root / "var/tmp").mkdir(parents=True)
    board.stub("sudo", STUB_SUDO)
    board.stub("reboot", STUB_REBOOT)
    return board


def add_hwmon(board: FakeBoard, monitors: Iterable[Hwmon]) -> None:
    """INA3221 hwmon folders with in{n}_label, in{n}_input (mV), curr{n}_input (mA), and the in7 sum."""
    for monitor in monitors:
        folder = f"sys/bus/i2c/drivers/ina3221/{monitor.i2c}/hwmon/{monitor.hwmon}"
        board.write(f"sys/bus/i2c/drivers/ina3221/{monitor.i2c}/name", "ina3221\n")
        board.write(f"{folder}/name", "ina3221\n")
        for index, (label, millivolts, milliamps) in monitor.channels.items():
            board.write(f"{folder}/in{index}_label", label + "\n")
            board.write(f"{folder}/in{index}_input", f"{millivolts}\n")
            board.write(f"{folder}/curr{index}_input", f"{milliamps}\n")
            board.write(f"{folder}/curr{index}_max", "32760\n")
            board.write(f"{folder}/curr{index}_crit", "32760\n")
        board.write(f"{folder}/in7_label", "sum of shunt voltages\n")
        board.write(f"{folder}/in7_input", "36\n")
        board.write(f"{folder}/curr4_input", "1497\n")


def jetson_board(
    tmp: Path, name: str, model: str, monitors: Iterable[Hwmon], tegrastats_line: str = ORIN_TEGRASTATS,
    current_mode: int = 2, reboot_modes: Iterable[int] = (3,), conf: str = ORIN_NANO_CONF,
) -> FakeBoard:
    """A Jetson: Linux tree + device-tree model, nv_tegra_release, nvpmodel.conf/status, hwmon, stubs."""
    board = linux_board(tmp, name)
    board.write("proc/device-tree/model", model + "\x00")
    board.write("etc/nv_tegra_release", "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, "
                                        "EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n"
                                        "# KERNEL_VARIANT: oot\n")
    board.write("etc/nvpmodel.conf", conf)
    board.write("var/lib/nvpmodel/status", f"pmode:{current_mode:04d} fmode:quiet\n")
    board.write(".stub/nvpmodel_current", f"{current_mode}\n")
    board.write(".stub/nvpmodel_reboot_ids", "".join(f"{i}\n" for i in reboot_modes))
    board.write(".stub/clocks", "off\n")
    board.write(".stub/tegrastats_line", tegrastats_line + "\n")
    add_hwmon(board, monitors)
    for command, body in (("nvpmodel", STUB_NVPMODEL), ("jetson_clocks", STUB_JETSON_CLOCKS),
                          ("tegrastats", STUB_TEGRASTATS)):
        board.stub(command, body)
    return board


def orin_nano(tmp: Path) -> FakeBoard:
    """Orin Nano devkit: VDD_IN, VDD_CPU_GPU_CV, VDD_SOC on 1-0040; modes 15W/25W/MAXN_SUPER/7W (7W reboots)."""
    monitor = Hwmon("1-0040", "hwmon3", {1: ("VDD_IN", 5072, 1010), 2: ("VDD_CPU_GPU_CV", 5056, 125),
                                         3: ("VDD_SOC", 5064, 275)})
    return jetson_board(tmp, "orin-nano", "NVIDIA Jetson Orin Nano Developer Kit", [monitor])


def agx_orin(tmp: Path) -> FakeBoard:
    """AGX Orin: two monitors, no total rail (VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0; NC, VDDQ_VDD2_1V8AO, NC)."""
    monitors = [
        Hwmon("1-0040", "hwmon1", {1: ("VDD_GPU_SOC", 19968, 120), 2: ("VDD_CPU_CV", 19968, 40),
                                   3: ("VIN_SYS_5V0", 5000, 704)}),
        Hwmon("1-0041", "hwmon2", {1: ("NC", 0, 0), 2: ("VDDQ_VDD2_1V8AO", 5000, 60), 3: ("NC", 0, 0)}),
    ]
    line = ("VDD_GPU_SOC 2390mW/2390mW VDD_CPU_CV 796mW/796mW VIN_SYS_5V0 3522mW/3522mW NC 0mW/0mW "
            "VDDQ_VDD2_1V8AO 301mW/301mW")
    conf = "< POWER_MODEL ID=0 NAME=MAXN >\n< POWER_MODEL ID=1 NAME=MODE_15W >\n< PM_CONFIG DEFAULT=0 >\n"
    return jetson_board(tmp, "agx-orin", "Jetson AGX Orin Developer Kit", monitors, line, 0, (), conf)


def raspberry_pi5(tmp: Path, throttled: str = "throttled=0x50000", temp: str = "temp=48.3'C",
                  pmic: str = PI5_PMIC) -> FakeBoard:
    """A Pi 5: Linux tree with its device-tree model and a vcgencmd stub answering from state files."""
    board = linux_board(tmp, "rpi5", zones=(("cpu-thermal", 48300),),
                        policies={"policy0": ("ondemand", "conservative ondemand userspace powersave performance "
                                                          "schedutil")}, online="0-3")
    board.write("proc/device-tree/model", "Raspberry Pi 5 Model B Rev 1.0\x00")
    board.write(".stub/measure_temp", temp + "\n")
    board.write(".stub/get_throttled", throttled + "\n")
    board.write(".stub/pmic_read_adc", pmic)
    board.stub("vcgencmd", STUB_VCGENCMD)
    return board


def stub_lines(board: FakeBoard, prefix: str) -> List[str]:
    """The calls that start with PREFIX."""
    return [line for line in board.calls() if line.startswith(prefix)]


def state(board: FakeBoard) -> Dict[str, str]:
    """The stubs' state files (name -> stripped text)."""
    return {p.name: p.read_text().strip() for p in board.state.iterdir() if p.is_file()}
