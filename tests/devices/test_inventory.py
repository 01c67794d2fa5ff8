"""Inventory: sources in order, ~/.ssh/config aliases, built-ins, analyzer bindings, every error with its place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devices.errors import InventoryError, UnknownDevice
from devices.inventory import SIM_ANALYZER, JumpHost, load_inventory
from power.analyzer import AnalyzerConfig

REPO = Path(__file__).resolve().parents[2]

SSH_CONFIG = """\
Host bastion
    HostName 192.0.2.1
    User jump
    Port 2200
    IdentityFile ~/.ssh/jump_key

Host jetson01
    HostName 10.0.0.21
    User nvidia
    Port 2222
    IdentityFile ~/.ssh/id_jetson
    ProxyJump bastion

Host rpi-*
    User pi

Host *
    ServerAliveInterval 15
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def one_device(name: str) -> str:
    return f'[devices.{name}]\nhost = "{name}.example"\n'


@pytest.fixture
def ssh_config(clean_env: Path) -> Path:
    return write(clean_env / "home" / ".ssh" / "config", SSH_CONFIG)


# ----- sources -----


def test_builtins_need_no_file(clean_env: Path) -> None:
    inventory = load_inventory()
    assert inventory.path is None
    assert inventory.names() == ["local"]
    local = inventory.get("local")
    assert (local.kind, local.python, local.profile, local.analyzer) == ("local", sys.executable, "linux", None)
    assert inventory.analyzers == {"sim": SIM_ANALYZER}
    assert inventory.analyzer("sim").to_config() == AnalyzerConfig("WT310E", "sim:cpu", {})


def test_sources_are_taken_in_order(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = clean_env / "home"
    write(home / ".config" / "edgepower" / "devices.toml", one_device("from_home_config"))
    assert load_inventory().get("from_home_config").host == "from_home_config.example"

    xdg = write(clean_env / "xdg" / "edgepower" / "devices.toml", one_device("from_xdg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg.parent.parent))
    assert load_inventory().path == xdg

    cwd_file = write(Path.cwd() / "devices.toml", one_device("from_cwd"))
    assert load_inventory().path == cwd_file

    env_file = write(clean_env / "env.toml", one_device("from_env"))
    monkeypatch.setenv("EDGEPOWER_INVENTORY", str(env_file))
    assert load_inventory().path == env_file

    explicit = write(clean_env / "explicit.toml", one_device("from_explicit"))
    inventory = load_inventory(str(explicit))
    assert inventory.path == explicit
    assert inventory.names() == ["from_explicit", "local"]  # files are not merged


def test_missing_explicit_or_env_file_is_an_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = clean_env / "nope.toml"
    with pytest.raises(InventoryError) as error:
        load_inventory(str(missing))
    assert str(error.value) == f"{missing}: inventory file not found (given with --inventory)"
    monkeypatch.setenv("EDGEPOWER_INVENTORY", str(missing))
    with pytest.raises(InventoryError) as error:
        load_inventory()
    assert str(error.value) == f"{missing}: inventory file not found (from $EDGEPOWER_INVENTORY)"


# ----- ~/.ssh/config -----


def test_ssh_alias_without_any_entry(ssh_config: Path, clean_env: Path) -> None:
    inventory = load_inventory()
    assert inventory.ssh_config_path == ssh_config
    assert inventory.names() == ["bastion", "jetson01", "local"]
    device = inventory.get("jetson01")
    home = clean_env / "home"
    assert (device.kind, device.host, device.user, device.port) == ("ssh", "10.0.0.21", "nvidia", 2222)
    assert device.identity_files == (f"{home}/.ssh/id_jetson",)
    assert device.proxy_jump == (JumpHost("192.0.2.1", "jump", 2200, (f"{home}/.ssh/jump_key",), "bastion"),)
    assert (device.ssh_alias, device.profile, device.analyzer) == ("jetson01", "linux", None)
    # A Host pattern resolves too (not listed), but the catch-all `*` does not make every name a device.
    assert inventory.get("rpi-7").user == "pi"
    with pytest.raises(UnknownDevice):
        inventory.get("somewhere-else")


def test_entry_with_ssh_alias_takes_host_data_from_there(ssh_config: Path, clean_env: Path) -> None:
    toml = write(clean_env / "d.toml", '[devices.nano]\nssh_alias = "jetson01"\nprofile = "jetson"\n'
                                       'sudo = "passwordless"\npower_modes = { maxn = "MAXN_SUPER" }\n')
    device = load_inventory(str(toml)).get("nano")
    assert (device.host, device.user, device.port, device.ssh_alias) == ("10.0.0.21", "nvidia", 2222, "jetson01")
    assert device.proxy_jump[0].host == "192.0.2.1"
    assert (device.profile, device.sudo, dict(device.power_modes)) == ("jetson", "passwordless",
                                                                      {"maxn": "MAXN_SUPER"})
    assert device.source == f"{toml}:1"


def test_entry_with_host_is_completed_by_ssh_config(ssh_config: Path, clean_env: Path) -> None:
    toml = write(clean_env / "d.toml", '[devices.pi]\nhost = "rpi-lab"\nport = 2022\n'
                                       'identity_files = ["~/keys/pi"]\nproxy_jump = "ops@gw.example:2201,bastion"\n')
    device = load_inventory(str(toml)).get("pi")
    home = clean_env / "home"
    assert (device.host, device.user, device.port) == ("rpi-lab", "pi", 2022)
    assert device.identity_files == (f"{home}/keys/pi",)
    assert device.proxy_jump == (
        JumpHost("gw.example", "ops", 2201, (), "ops@gw.example:2201"),
        JumpHost("192.0.2.1", "jump", 2200, (f"{home}/.ssh/jump_key",), "bastion"),
    )
    assert device.ssh_alias is None


def test_explicit_ssh_config_path(clean_env: Path) -> None:
    other = write(clean_env / "other_ssh_config", "Host board9\n    HostName 198.51.100.9\n")
    inventory = load_inventory(ssh_config_path=str(other))
    assert inventory.get("board9").host == "198.51.100.9"
    assert inventory.get("board9").port == 22


# ----- analyzers and the other keys -----


def test_analyzer_bindings_named_inline_and_builtin(clean_env: Path) -> None:
    toml = write(clean_env / "d.toml", """\
[analyzers.wt310]
model = "WT310E"
url = "/dev/ttyUSB0"
element = 1
baudrate = 19200
parity = "E"
stopbits = 2
timeout_s = 3
options = { crest_factor = 6 }

[devices.a]
host = "a.example"
analyzer = "wt310"

[devices.b]
host = "b.example"
analyzer = { model = "ptdaemon", url = "tcp://127.0.0.1:8888" }

[devices.local]
analyzer = "sim"
env = { PATH = "/stubs:/usr/bin" }
tags = ["ci"]
notes = "bound to the simulator"
""")
    inventory = load_inventory(str(toml))
    assert inventory.get("a").analyzer is inventory.analyzers["wt310"]
    assert inventory.get("a").analyzer.to_config() == AnalyzerConfig(
        "WT310E", "/dev/ttyUSB0",
        {"crest_factor": 6, "baudrate": 19200, "parity": "E", "stopbits": 2.0, "timeout_s": 3.0, "element": 1},
    )
    assert inventory.get("b").analyzer.to_config() == AnalyzerConfig("ptdaemon", "tcp://127.0.0.1:8888", {})
    local = inventory.get("local")
    assert (local.kind, local.analyzer, dict(local.env), local.tags) == (
        "local", SIM_ANALYZER, {"PATH": "/stubs:/usr/bin"}, ("ci",))
    assert sorted(inventory.analyzers) == ["sim", "wt310"]


def test_example_file_is_valid(clean_env: Path) -> None:
    ssh = write(clean_env / "ssh_config", SSH_CONFIG)
    example = REPO / "devices" / "devices.example.toml"
    header = example.read_text().splitlines().index("[devices.rpi5]") + 1
    inventory = load_inventory(str(example), str(ssh))
    assert inventory.names() == ["bastion", "jetson01", "local", "rpi5"]
    jetson = inventory.get("jetson01")
    assert (jetson.host, jetson.profile, jetson.analyzer.name) == ("10.0.0.21", "jetson", "wt310")
    assert dict(jetson.power_modes) == {"maxn": "MAXN_SUPER", "low": "7W"}
    assert inventory.get("rpi5").analyzer.url == "rfc2217://127.0.0.2:4001?ign_set_control"
    assert inventory.get("local").analyzer is SIM_ANALYZER
    sim = inventory.analyzer("sim_board2")
    assert (sim.url, dict(sim.options)) == ("sim:cpu", {"idle_w": 6.0, "load_w": 9.0, "cpu_of": "/home/board2"})
    assert inventory.names(include_ssh_aliases=False) == ["jetson01", "local", "rpi5"]
    home = clean_env / "home"
    assert inventory.get("rpi5").describe() == {
        "name": "rpi5", "kind": "ssh", "host": "192.168.1.50", "user": "pi", "port": 22,
        "identity_files": [f"{home}/.ssh/id_ed25519"], "proxy_jump": ["bastion"], "ssh_alias": None,
        "python": "/home/pi/venv/bin/python", "workdir": "~/.cache/edgepower", "profile": "raspberrypi",
        "analyzer": "rpi5.analyzer", "power_modes": {}, "sudo": "never",
        "env": {"PATH": "/home/pi/bin:/usr/local/bin:/usr/bin:/bin"}, "tags": [], "notes": "",
        "source": f"{example}:{header}",
    }


# ----- errors -----


def test_unknown_device_lists_the_known_ones(ssh_config: Path, clean_env: Path) -> None:
    toml = write(clean_env / "d.toml", one_device("jetson02"))
    with pytest.raises(UnknownDevice) as error:
        load_inventory(str(toml)).get("jetsn01")
    assert str(error.value) == (f"unknown device 'jetsn01' (known: bastion, jetson01, jetson02, local; "
                                f"from {toml}, {ssh_config}); did you mean 'jetson01'?")
    with pytest.raises(UnknownDevice) as error:
        load_inventory(str(toml)).get("zz")
    assert str(error.value).endswith(f"from {toml}, {ssh_config})")


def test_unknown_analyzer_lists_the_known_ones(clean_env: Path) -> None:
    with pytest.raises(InventoryError) as error:
        load_inventory().analyzer("wt999")
    assert str(error.value) == "unknown analyzer 'wt999' (known: sim; from no devices.toml found)"


def test_malformed_toml_keeps_line_and_column(clean_env: Path) -> None:
    toml = write(clean_env / "d.toml", '[devices.a]\nhost = "a"\nprofile = jetson\n')
    with pytest.raises(InventoryError) as error:
        load_inventory(str(toml))
    assert str(error.value) == f"{toml}:3:11: invalid TOML: Invalid value (at line 3, column 11)"


BAD = [
    ('[devices.a]\nhost = "a"\nprofil = "jetson"\n', 3,
     "device 'a', key 'profil': unknown key (known: kind, ssh_alias, host, user, port, identity_files, "
     "proxy_jump, python, workdir, profile, analyzer, power_modes, sudo, env, fs_root, tags, notes)"),
    ('[devices.a]\nhost = "a"\n\nport = "22"\n', 4, "device 'a', key 'port': must be an integer, not a string"),
    ('[devices.a]\nhost = "a"\nport = 70000\n', 3, "device 'a', key 'port': 70000 is not a TCP port (1-65535)"),
    ('# lab\n[devices.a]\nhost = "a"\nprofile = "jetsn"\n', 4,
     "device 'a', key 'profile': unknown value 'jetsn' (known: linux, jetson, raspberrypi)"),
    ('[devices.a]\nhost = "a"\nsudo = "yes"\n', 3,
     "device 'a', key 'sudo': unknown value 'yes' (known: never, passwordless)"),
    ('[devices.a]\nhost = "a"\nanalyzer = "wt310"\n', 3, "device 'a', key 'analyzer': no analyzer 'wt310' (known: sim)"),
    ('[devices.a]\nhost = "a"\ntags = "x"\nenv = { PATH = 1 }\n', 4,
     "device 'a', key 'env': entry 'PATH' must be a string, not an integer"),
    ('[devices.a]\nkind = "local"\nhost = "a"\n', 3, "device 'a', key 'host': not used by kind = \"local\""),
    ('[devices.a]\nhost = "a"\n\n[devices.a.power_modes]\nmaxn = 0\n', 4,
     "device 'a', key 'power_modes': entry 'maxn' must be a string, not an integer"),
    ('[analyzers.w]\nmodel = "WT310E"\n', 1, "analyzer 'w': missing key 'url'"),
    ('[analyzers.w]\nmodel = "WT310E"\nurl = "x"\nbaud = 9600\n', 4,
     "analyzer 'w', key 'baud': unknown key (known: model, url, element, baudrate, bytesize, parity, stopbits, "
     "xonxoff, rtscts, timeout_s, options, notes)"),
    ('[analyzers.w]\nmodel = "WT310E"\nurl = "x"\nparity = "X"\n', 4,
     "analyzer 'w', key 'parity': 'X' is not one of N, E, O, M, S"),
    ('[devices.a]\nhost = "a"\nanalyzer = { model = "WT310E" }\n', 3,
     "device 'a', inline analyzer: missing key 'url'"),
    ('version = 2\n[devices.a]\nhost = "a"\n', 1, "unknown top-level key 'version' (known: analyzers, devices)"),
]


@pytest.mark.parametrize("text, line, message", BAD)
def test_bad_entries_name_file_line_device_and_key(clean_env: Path, text: str, line: int, message: str) -> None:
    toml = write(clean_env / "devices.toml", text)
    with pytest.raises(InventoryError) as error:
        load_inventory(str(toml))
    assert str(error.value) == f"{toml}:{line}: {message}"


def test_ssh_alias_errors(ssh_config: Path, clean_env: Path) -> None:
    toml = write(clean_env / "d.toml", '[devices.x]\nssh_alias = "jetson01"\nuser = "root"\n')
    with pytest.raises(InventoryError) as error:
        load_inventory(str(toml))
    assert str(error.value) == (f"{toml}:3: device 'x', key 'user': ssh_alias 'jetson01' already gives the host "
                                "data; say it in ~/.ssh/config only")
    write(toml, '[devices.x]\nprofile = "linux"\nssh_alias = "jetson99"\n')
    with pytest.raises(InventoryError) as error:
        load_inventory(str(toml))
    assert str(error.value) == (f"{toml}:3: device 'x', key 'ssh_alias': no Host 'jetson99' in {ssh_config} "
                                "(aliases there: bastion, jetson01)")


def test_devices_package_imports_neither_director_nor_tui() -> None:
    code = ("import sys, devices.inventory, devices.profiles; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('director', 'tui')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
