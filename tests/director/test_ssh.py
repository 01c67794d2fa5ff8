"""SSHTransport against a real sshd on loopback: commands, quoting, files, host keys, auth, drops."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from director.errors import AuthenticationError, BadInput, CommandFailed, HostKeyError, TransportError
from director.hostkeys import fingerprint
from director.local import LocalTransport
from director.ssh import SSHTransport, transport_for
from director.ssh_login import parse_target
from director.transport import TimedOut
from tests.sshd import Board, free_port, keygen

HOSTILE = [
    "two words", "it's", 'say "hi"', "a;b", "$(touch /tmp/edgepower-pwned)", "`id`", "$HOME", "~", "*",
    "new\nline", "tab\there", "", "--", "-c", "back\\slash", "µ-unicode ✓", "&& rm -rf /", "|", ">out",
]


def ssh_keygen_fingerprint(pub: str) -> str:
    """The fingerprint OpenSSH itself computes for a public key file."""
    return subprocess.run(["ssh-keygen", "-lf", pub], capture_output=True, text=True, check=True).stdout.split()[1]


def test_run_returns_exit_code_and_both_outputs(ssh):
    result = ssh.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert ssh.run(["true"]).ok


def test_hostile_arguments_arrive_as_one_argv_item_each(ssh, board_python):
    result = ssh.run_check([board_python, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *HOSTILE])
    assert json.loads(result.stdout) == HOSTILE
    assert not os.path.exists("/tmp/edgepower-pwned")


def test_env_values_are_quoted_too(ssh):
    result = ssh.run_check(["printenv", "EDGE_VAR"], env={"EDGE_VAR": "a b; $(id) 'x'"})
    assert result.stdout == "a b; $(id) 'x'\n"
    with pytest.raises(BadInput):
        ssh.run(["true"], env={"BAD NAME": "1"})
    with pytest.raises(BadInput):
        ssh.run("echo not-a-list")  # a string is never split into a command


def test_command_line_is_quoted_argv_with_env_and_sudo(sshd):
    t = sshd.transport(user="pi", env={"A": "1 2"})
    assert t.command_line(["ls", "a b"], sudo=True) == "sudo -n -- env -- 'A=1 2' ls 'a b'"
    assert sshd.transport().command_line(["id"], sudo=True) == "id"  # root needs no sudo


def test_run_check_raises_with_all_three(ssh):
    with pytest.raises(CommandFailed) as err:
        ssh.run_check(["sh", "-c", "echo partial; echo 'no such thing' >&2; exit 4"])
    assert err.value.exit_code_remote == 4 and err.value.stdout == "partial\n"
    assert "exited 4: no such thing" in str(err.value)


def test_stdin_reaches_the_command(ssh):
    assert ssh.run(["cat"], stdin="line 1\nline 2\n").stdout == "line 1\nline 2\n"


def test_run_streamed_hands_over_lines_as_they_come(ssh, sshd):
    # The command waits for a file that only the callback for its first line creates: if lines were
    # handed over at the end instead of as they come, it would time out.
    flag = sshd.home / "streamed.flag"
    seen = []

    def on_line(line: str) -> None:
        seen.append(line)
        flag.touch()

    script = f"echo first; while [ ! -e {flag} ]; do sleep 0.02; done; echo second; echo oops >&2; printf last"
    result = ssh.run_streamed(["sh", "-c", script], on_line, timeout_s=20)
    assert seen == ["first", "second", "last"]
    assert result.ok and result.stdout == "first\nsecond\nlast" and result.stderr == "oops\n"


def test_a_command_over_time_raises_and_the_link_stays_usable(ssh):
    with pytest.raises(TimedOut, match="still running after 0.3 s"):
        ssh.run(["sleep", "5"], timeout_s=0.3)
    assert ssh.run(["echo", "ok"]).stdout == "ok\n"


def test_put_get_and_read_text(ssh, sshd, tmp_path):
    payload = bytes(range(256)) * 1000
    (tmp_path / "up.bin").write_bytes(payload)
    remote = f"{ssh.home()}/up.bin"
    ssh.put(str(tmp_path / "up.bin"), remote)
    ssh.get(remote, str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == payload
    (sshd.home / "note.txt").write_text("hello µ\n")
    assert ssh.read_text(f"{ssh.home()}/note.txt") == "hello µ\n"
    assert ssh.read_text("/proc/self/status").startswith("Name:")  # a file whose size says 0
    assert ssh.read_text(f"{ssh.home()}/absent") is None
    assert ssh.read_text(ssh.home()) is None  # a folder
    with pytest.raises(TransportError, match="cannot write"):
        ssh.put(str(tmp_path / "up.bin"), "/no/such/folder/x")
    with pytest.raises(TransportError, match="cannot read"):
        ssh.get("/no/such/file", str(tmp_path / "x"))


def test_home_is_the_boards_home(ssh, sshd):
    assert ssh.home() == str(sshd.home)
    assert ssh.expand_home("~/.cache/x") == f"{sshd.home}/.cache/x"


def test_file_operations(ssh):
    base = f"{ssh.home()}/ops"
    ssh.makedirs(f"{base}/a/b")
    ssh.makedirs(f"{base}/a/b")  # twice is fine
    assert ssh.exists(f"{base}/a/b") and not ssh.exists(f"{base}/nope")
    ssh.rename(f"{base}/a", f"{base}/c")
    assert ssh.exists(f"{base}/c/b")
    ssh.makedirs(f"{base}/d/x")
    with pytest.raises(TransportError, match="cannot rename"):
        ssh.rename(f"{base}/c", f"{base}/d")  # a non-empty target is never overwritten
    ssh.remove_tree(base)
    assert not ssh.exists(base)


def test_unknown_host_key_is_refused_with_fingerprint_and_flag(fresh_board: Board):
    expected = ssh_keygen_fingerprint(f"{fresh_board.host_key}.pub")
    with pytest.raises(HostKeyError) as err:
        fresh_board.transport().run(["true"])
    message = str(err.value)
    assert f"[127.0.0.1]:{fresh_board.port}" in message and "ssh-ed25519" in message
    assert expected in message and "--trust-host" in message and "\n" not in message
    assert fresh_board.known_hosts.read_text() == ""  # nothing added behind the user's back


def test_trust_host_adds_the_key_once(fresh_board: Board, tmp_path):
    other = keygen(tmp_path / "other").with_suffix(".pub").read_text().split()[:2]
    fresh_board.known_hosts.write_text(f"# my hosts\nother.example {other[0]} {other[1]}")  # no final newline
    with fresh_board.transport(trust_host=True) as t:
        assert t.run(["true"]).ok
    text = fresh_board.known_hosts.read_text()
    assert text.startswith("# my hosts\nother.example ") and text.endswith(fresh_board.host_public_line)
    with fresh_board.transport() as t:  # known now: no flag needed
        assert t.run(["true"]).ok


def test_hashed_known_hosts_entries_are_understood(fresh_board: Board):
    fresh_board.known_hosts.write_text(fresh_board.host_public_line)
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(fresh_board.known_hosts)], check=True, capture_output=True)
    assert fresh_board.known_hosts.read_text().startswith("|1|")
    with fresh_board.transport() as t:
        assert t.run(["true"]).ok


def test_broken_known_hosts_lines_are_skipped_and_revoked_keys_refused(fresh_board: Board):
    garbage = "h1 ssh-dss AAAAB3NzaC1kc3MAAACBAP\nh2 ssh-ed25519 !!!\n@cert-authority *.lan ssh-ed25519 AAAA\nonly-two fields\n"
    fresh_board.known_hosts.write_text(garbage + fresh_board.host_public_line)
    with fresh_board.transport() as t:
        assert t.run(["true"]).ok
    fresh_board.known_hosts.write_text(fresh_board.host_public_line + "@revoked " + fresh_board.host_public_line)
    with pytest.raises(HostKeyError, match="marked @revoked"):
        fresh_board.transport(trust_host=True, replace_host_key=True).run(["true"])


def test_changed_host_key_is_refused_even_with_trust_host(fresh_board: Board, tmp_path):
    impostor = keygen(tmp_path / "old_host_key")
    kind, b64 = impostor.with_suffix(".pub").read_text().split()[:2]
    fresh_board.known_hosts.write_text(f"[127.0.0.1]:{fresh_board.port} {kind} {b64}\nkeep.example {kind} {b64}\n")
    for flags in ({}, {"trust_host": True}):
        with pytest.raises(HostKeyError) as err:
            fresh_board.transport(**flags).run(["true"])
        assert "CHANGED" in str(err.value) and "--replace-host-key" in str(err.value)
        assert ssh_keygen_fingerprint(f"{fresh_board.host_key}.pub") in str(err.value)
    with fresh_board.transport(replace_host_key=True) as t:
        assert t.run(["true"]).ok
    lines = fresh_board.known_hosts.read_text().splitlines()
    assert lines == [f"keep.example {kind} {b64}", fresh_board.host_public_line.strip()]


def test_fingerprint_matches_openssh(sshd):
    with sshd.transport() as t:
        key = t.connected().get_remote_server_key()
    assert fingerprint(key) == ssh_keygen_fingerprint(f"{sshd.host_key}.pub")


def test_failed_authentication_names_the_keys_tried(sshd, tmp_path):
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(AuthenticationError) as err:
        sshd.transport(identity_files=[str(stranger), str(tmp_path / "missing_key")]).run(["true"])
    message = str(err.value)
    assert f"root@127.0.0.1:{sshd.port} refused every key offered" in message
    assert str(stranger) in message and "missing_key (unreadable" in message and "\n" not in message
    with pytest.raises(AuthenticationError, match="no identity file, no ssh-agent key"):
        sshd.transport(identity_files=[]).run(["true"])


def test_ssh_agent_keys_are_used(sshd, tmp_path, monkeypatch):
    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.02)
        env = dict(os.environ, SSH_AUTH_SOCK=sock)
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        with sshd.transport(identity_files=[], allow_agent=True) as t:
            assert t.run(["whoami"]).stdout == "root\n"
    finally:
        agent.terminate()
        agent.wait(5)


def test_unreachable_hosts_give_one_line(tmp_path):
    port = free_port()
    with pytest.raises(TransportError, match=f"^127.0.0.1:{port}: connection refused"):
        SSHTransport("127.0.0.1", port=port, known_hosts=str(tmp_path / "kh")).run(["true"])
    with pytest.raises(TransportError, match="^no-such-host.invalid:22: host name not found"):
        SSHTransport("no-such-host.invalid", known_hosts=str(tmp_path / "kh")).run(["true"])


def test_a_drop_during_a_command_raises_then_reconnect_works(sshd):
    with sshd.transport() as t:
        port = t.connected().sock.getsockname()[1]
        with pytest.raises(TransportError, match="127.0.0.1"):
            t.run_streamed(["sh", "-c", "echo up; sleep 30"], lambda line: sshd.kill_connection(port), timeout_s=20)
        t.reconnect()
        assert t.connected().sock.getsockname()[1] != port
        assert t.run(["echo", "3"]).stdout == "3\n"


def test_a_server_that_never_speaks_times_out(tmp_path):
    with socket.socket() as mute:  # accepts connections (the kernel does) but never sends a banner
        mute.bind(("127.0.0.1", 0))
        mute.listen(4)
        port = mute.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(TransportError, match=f"^127.0.0.1:{port}: SSH handshake failed"):
            SSHTransport("127.0.0.1", port=port, known_hosts=str(tmp_path / "kh"), connect_timeout_s=0.5).run(["true"])
        assert time.monotonic() - t0 < 10


def test_reconnect_checks_the_host_key_again(fresh_board: Board, tmp_path):
    fresh_board.known_hosts.write_text(fresh_board.host_public_line)
    with fresh_board.transport() as t:
        assert t.run(["true"]).ok
        kind, b64 = keygen(tmp_path / "other").with_suffix(".pub").read_text().split()[:2]
        fresh_board.known_hosts.write_text(f"[127.0.0.1]:{fresh_board.port} {kind} {b64}\n")
        t0 = time.monotonic()
        with pytest.raises(HostKeyError, match="CHANGED"):
            t.reconnect()
        assert time.monotonic() - t0 < 5  # refused at once, not retried with back-off


def test_a_lazy_transport_reconnects_by_itself_after_a_drop(sshd):
    with sshd.transport() as t:
        port = t.connected().sock.getsockname()[1]
        assert sshd.kill_connection(port)
        deadline = time.monotonic() + 5
        while t.connected().sock.getsockname()[1] == port and time.monotonic() < deadline:
            time.sleep(0.05)  # the next use after paramiko noticed the drop makes a new connection
        assert t.run(["echo", "back"]).stdout == "back\n"


def test_proxy_jump_tunnels_through_a_jump_host(sshd):
    with sshd.transport(proxy_jump=f"root@127.0.0.1:{sshd.port}") as t:
        assert t.run(["echo", "via jump"]).stdout == "via jump\n"
        assert t.connected().sock.__class__.__name__ == "Channel"


def test_jump_hosts_from_the_inventory(sshd):
    from devices.sshconfig import JumpHost

    hop = JumpHost(host="127.0.0.1", user="root", port=sshd.port, identity_files=(str(sshd.client_key),), spec="gw")
    with sshd.transport(proxy_jump=(hop, hop)) as t:  # two hops, both through the board itself
        assert t.run(["echo", "two hops"]).stdout == "two hops\n"


def test_transport_for_devices(sshd):
    from devices.inventory import LOCAL_DEVICE, Device

    assert isinstance(transport_for(LOCAL_DEVICE), LocalTransport)
    device = Device(name="b1", host="127.0.0.1", user="root", port=sshd.port, identity_files=(str(sshd.client_key),))
    with transport_for(device, known_hosts=str(sshd.known_hosts), allow_agent=False) as t:
        assert t.name == "b1" and t.run(["echo", "hi"]).stdout == "hi\n"
    with pytest.raises(BadInput, match="no host"):
        transport_for(Device(name="nohost"))


def test_parse_target():
    assert parse_target("pi@board.lan:2222") == ("pi", "board.lan", 2222)
    assert parse_target("board") == (None, "board", 22)
    assert parse_target("u@[fe80::1]:2200") == ("u", "fe80::1", 2200)
    with pytest.raises(BadInput):
        parse_target("u@host:notaport")


def test_a_command_killed_by_a_signal_is_not_a_drop(ssh):
    result = ssh.run(["sh", "-c", "echo before; kill -9 $$"])
    assert result.exit_code == -1 and result.stdout == "before\n"
    assert ssh.run(["true"]).ok


def test_files_after_a_drop_use_a_new_connection(sshd):
    with sshd.transport() as t:
        assert t.read_text("/proc/self/status") is not None  # SFTP client cached now
        port = t.connected().sock.getsockname()[1]
        assert sshd.kill_connection(port)
        deadline = time.monotonic() + 5
        while t._transport is not None and t._transport.is_active() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert t.read_text("/proc/self/status").startswith("Name:")
        assert t.connected().sock.getsockname()[1] != port
