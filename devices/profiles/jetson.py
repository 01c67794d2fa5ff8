"""The Jetson profile: nvpmodel modes by NAME (with reboots), jetson_clocks store/restore, INA3221 rails."""

from __future__ import annotations

import logging
import math
import posixpath
from typing import Dict, List, Optional

from devices.errors import ProfileError, UnknownPowerMode
from devices.inventory import Device
from devices.profiles import ina3221, tegra
from devices.profiles.base import ModeChange, PowerMode, RailReading
from devices.profiles.linux import LinuxProfile
from devices.profiles.tegra import TOTAL_RAILS, ClocksReport
from devices.shell import Shell

log = logging.getLogger(__name__)

NVPMODEL_CONF = "/etc/nvpmodel.conf"
NVPMODEL_STATUS = "/var/lib/nvpmodel/status"
TEGRA_RELEASE = "/etc/nv_tegra_release"
# Written by root: a folder only root can write, not a predictable name in world-writable /var/tmp,
# where another user could plant a symlink for root to write through.
CLOCKS_STORE = "/var/lib/edgepower/jetson_clocks.conf"


class JetsonProfile(LinuxProfile):
    """NVIDIA Jetson (JetPack 4-6): everything of LinuxProfile plus power modes, clocks and rails."""

    name = "jetson"

    def __init__(self, device: Device, shell: Shell) -> None:
        super().__init__(device, shell)
        self._channels: Optional[List[ina3221.RailChannel]] = None
        self._clocks_stored = False

    # ----- power modes -----

    def power_modes(self) -> List[PowerMode]:
        """Modes from /etc/nvpmodel.conf, by the board's own ids and NAMEs (ids differ between modules)."""
        text = self.read_required(NVPMODEL_CONF, "the nvpmodel configuration")
        modes = tegra.parse_nvpmodel_conf(text)
        if not modes:
            raise ProfileError(f"{self.device.name}: no POWER_MODEL lines in {self.path(NVPMODEL_CONF)}")
        return modes

    def resolve_mode(self, name: str) -> PowerMode:
        """The mode called NAME: our alias from devices.toml power_modes, or the board's NAME (any case)."""
        wanted = self.device.power_modes.get(name, name)
        modes = self.power_modes()
        for exact in (True, False):
            for mode in modes:
                if mode.name == wanted if exact else mode.name.lower() == wanted.lower():
                    return mode
        aliases = "".join(f", {ours} ({theirs})" for ours, theirs in sorted(self.device.power_modes.items()))
        asked = name if wanted == name else f"{name!r} = {wanted!r} in devices.toml, which is"
        what = f"unknown power mode {name!r}" if wanted == name else f"power mode {asked} not on the board"
        raise UnknownPowerMode(f"{self.device.name}: {what} (board modes: "
                               f"{', '.join(m.name for m in modes)}{aliases})")

    def current_power_mode(self) -> PowerMode:
        """The mode in force, from `nvpmodel -q`."""
        result = self.run_checked(["nvpmodel", "-q"], "querying the power mode", sudo=True)
        name, mode_id = tegra.parse_nvpmodel_query(result.stdout + "\n" + result.stderr)
        default = next((m.default for m in self._modes_or_empty() if m.id == mode_id), False)
        return PowerMode(mode_id, name, default)

    def set_power_mode(self, name: str) -> ModeChange:
        """Switch to mode NAME with `sudo nvpmodel -m <id>`, declining nvpmodel's reboot prompt.

        When nvpmodel asks for a reboot it cancels the switch; the mode is then recorded in
        /var/lib/nvpmodel/status so it takes effect at the next boot, and the result says
        needs_reboot. The director then calls reboot(), waits for SSH, checks the boot_id changed
        and calls verify_power_mode(name).
        """
        target = self.resolve_mode(name)
        current = self.current_power_mode()
        if current.id == target.id:
            return ModeChange(False, current, target)
        argv = ["nvpmodel", "-m", str(target.id)]
        result = self.shell.run(argv, timeout_s=120.0, sudo=self.device.may_sudo, stdin="NO\n")
        output = (result.stdout + result.stderr).strip()
        if tegra.nvpmodel_wants_reboot(output):
            status = self.read(NVPMODEL_STATUS)
            self.write_sysfs(NVPMODEL_STATUS, tegra.with_pending_mode(status, target.id),
                             f"recording power mode {target.name} for the next boot")
            log.info("%s: %s -> %s needs a reboot", self.device.name, current.name, target.name)
            return ModeChange(True, current, target, output)
        if not result.ok or "NVPM ERROR" in output:
            raise ProfileError(self._failure(argv, f"setting power mode {target.name}", result, sudo=True))
        self.verify_power_mode(target.name)
        return ModeChange(False, current, target, output)

    def verify_power_mode(self, name: str) -> PowerMode:
        """Check with `nvpmodel -q` that mode NAME is in force; ProfileError naming both when not."""
        target = self.resolve_mode(name)
        current = self.current_power_mode()
        if current.id != target.id or current.name != target.name:
            raise ProfileError(f"{self.device.name}: power mode is {current.name} (id {current.id}), "
                               f"expected {target.name} (id {target.id})")
        return current

    def _modes_or_empty(self) -> List[PowerMode]:
        text = self.read(NVPMODEL_CONF)
        return tegra.parse_nvpmodel_conf(text) if text else []

    # ----- jetson_clocks -----

    @property
    def clocks_store_path(self) -> str:
        """Where `jetson_clocks --store` keeps the settings to restore (under fs_root)."""
        return self.path(CLOCKS_STORE)

    def clocks_show(self) -> ClocksReport:
        """`jetson_clocks --show`, parsed, for the power-settings record."""
        result = self.run_checked(["jetson_clocks", "--show"], "reading clocks", sudo=True)
        return tegra.parse_jetson_clocks_show(result.stdout)

    def set_max_clocks(self, enable: bool) -> ClocksReport:
        """enable: `--store <file>` (once) then `jetson_clocks`; disable: `--restore <file>`. Returns --show."""
        store = self.clocks_store_path
        if enable:
            if not self._clocks_stored:
                self.run_checked(["mkdir", "-p", "-m", "0700", posixpath.dirname(store)], "storing clocks", sudo=True)
                self.run_checked(["jetson_clocks", "--store", store], "storing clocks", sudo=True)
                self._clocks_stored = True
            self.run_checked(["jetson_clocks"], "pinning clocks at maximum", sudo=True)
        else:
            self.run_checked(["jetson_clocks", "--restore", store], "restoring clocks", sudo=True)
            self._clocks_stored = False
        return self.clocks_show()

    # ----- on-board power -----

    def rail_channels(self) -> List[ina3221.RailChannel]:
        """The INA3221 channels found (looked up once per profile object)."""
        if self._channels is None:
            self._channels = ina3221.find_channels(self)
        return self._channels

    def rails(self) -> Dict[str, RailReading]:
        """Every connected rail: V, A and W from sysfs; from tegrastats (power only) when sysfs has none."""
        channels = self.rail_channels()
        if channels:
            try:
                return {c.name: ina3221.read_channel(self, c) for c in channels}
            except ProfileError as e:
                raise ProfileError(f"{self.device.name}: {e}") from e
        nan = math.nan
        return {name: RailReading(nan, nan, rail.now_w) for name, rail in self.tegrastats_rails().items()}

    def total_rail(self) -> Optional[str]:
        """The rail measuring the whole module input (VDD_IN or POM_5V_IN), or None where there is none."""
        names = {c.name for c in self.rail_channels()} or set(self.tegrastats_rails())
        return next((rail for rail in TOTAL_RAILS if rail in names), None)

    def board_power_w(self) -> float:
        """The module's input power (W) from VDD_IN / POM_5V_IN. Never a sum of rails: where no total
        rail exists (AGX Orin) this raises ProfileError, since a sum leaves out carrier-board losses."""
        rails = self.rails()
        for name in TOTAL_RAILS:
            if name in rails:
                return rails[name].power_w
        raise ProfileError(
            f"{self.device.name}: on-board total power is unavailable: no VDD_IN or POM_5V_IN rail "
            f"(rails: {', '.join(sorted(rails)) or 'none'}); a sum of rails would leave out carrier-board "
            "and conversion losses, so none is given: use the wall analyzer"
        )

    def tegrastats_rails(self, interval_ms: int = 200) -> Dict[str, tegra.TegraRail]:
        """One tegrastats line's rails (W), the fallback where sysfs has no INA3221 channel."""
        window_s = max(1.0, 3 * interval_ms / 1000.0)
        argv = ["timeout", f"{window_s:g}", "tegrastats", "--interval", str(interval_ms)]
        result = self.shell.run(argv, timeout_s=window_s + 15.0)
        for line in reversed(result.stdout.splitlines()):
            rails = tegra.parse_tegrastats_line(line)
            if rails:
                return rails
        raise ProfileError(self._failure(argv, "reading rails from tegrastats", result, sudo=False))

    # ----- facts -----

    def extra_facts(self) -> Dict[str, object]:
        """L4T release, power mode in force, the nvpmodel default, rails and the total rail."""
        release_text = self.read(TEGRA_RELEASE)
        extra: Dict[str, object] = {
            "l4t_release": tegra.parse_l4t_release(release_text) if release_text else None,
            "nv_tegra_release": release_text.splitlines()[0] if release_text else None,
        }
        try:
            mode = self.current_power_mode()
            extra["power_mode"] = {"id": mode.id, "name": mode.name}
        except ProfileError as e:
            extra["power_mode"] = None
            extra["power_mode_error"] = str(e)
        default = next((m for m in self._modes_or_empty() if m.default), None)
        extra["power_mode_default"] = default.name if default else None
        channels = self.rail_channels()
        extra["rails"] = [c.name for c in channels]
        names = {c.name for c in channels}
        extra["total_rail"] = next((rail for rail in TOTAL_RAILS if rail in names), None)
        return extra
