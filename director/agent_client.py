"""The director's end of the agent channel: `python -m agent serve` on the device, spoken to in JSON lines."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import agent.protocol as protocol
from director.errors import AgentUnavailable, AuthenticationError, DirectorError, HostKeyError, TransportError
from director.transport import Channel, TimedOut, Transport

log = logging.getLogger(__name__)

DEFAULT_RUNS_ROOT = "~/.cache/edgepower/runs"
TERMINAL_EVENTS = (protocol.EVENT_FINISHED, protocol.EVENT_FAILED)
FINAL_EVENT_GRACE_S = 10.0  # the worker writes result.json just before its last event


class AgentRequestFailed(DirectorError):
    """The agent answered a request with an error (a bad job, an unknown run); the message is its line."""


@dataclass(frozen=True)
class Hello:
    """The agent's greeting: protocol version, agent version, its Python and the serve process id."""

    protocol: int
    agent_version: str
    python: str
    pid: int


class AgentClient:
    """Starts `python -m agent serve --root ROOT` through a transport and makes requests on it.

    Each request carries an id and waits at most its time-out for the reply with that id. After the
    link drops, reconnect() re-makes the transport's connection and a new serve; the detached
    worker on the device kept running, and follow() goes on from the last events offset it read.
    """

    def __init__(
        self,
        transport: Transport,
        python: str = "python3",
        pythonpath: Optional[str] = None,
        root: str = DEFAULT_RUNS_ROOT,
        env: Optional[Mapping[str, str]] = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.transport = transport
        self.python = python
        self.pythonpath = pythonpath
        self.root = root
        self.env = dict(env or {})
        self.timeout_s = timeout_s
        self.offsets: Dict[str, int] = {}
        self.started: Dict[str, Dict[str, Any]] = {}
        self.hello_reply: Optional[Hello] = None
        self._channel: Optional[Channel] = None
        self._next_id = 0
        self._lock = threading.RLock()  # one request at a time on the channel, whichever thread asks

    # the channel ------------------------------------------------------------------------------
    def open(self) -> Hello:
        """Start serve on the device (if not running) and check its protocol version."""
        with self._lock:
            if self._channel is not None and self.hello_reply is not None:
                return self.hello_reply
            return self._open()

    def _open(self) -> Hello:
        env = dict(self.env)
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        argv = [self.python, "-m", "agent", "serve", "--root", self.root]
        self._channel = self.transport.open_channel(argv, env=env)
        try:
            reply = self._call("hello", self.timeout_s, {})
        except TransportError as e:
            stderr = self._channel.stderr_text().strip().splitlines() if self._channel else []
            self._close_channel()
            if isinstance(e, (HostKeyError, AuthenticationError)) or not stderr:
                raise
            raise AgentUnavailable(f"{self.transport.name}: the agent did not start: {stderr[-1]}") from e
        hello = Hello(int(reply.get("protocol", -1)), str(reply.get("agent_version")), str(reply.get("python")), int(reply.get("pid", 0)))
        if hello.protocol != protocol.PROTOCOL_VERSION:
            self._close_channel()
            raise AgentUnavailable(
                f"{self.transport.name}: the agent speaks protocol {hello.protocol}, this director speaks "
                f"{protocol.PROTOCOL_VERSION}; deploy the agent that comes with this director"
            )
        self.hello_reply = hello
        log.debug("%s: agent %s on Python %s (pid %d)", self.transport.name, hello.agent_version, hello.python, hello.pid)
        return hello

    def _close_channel(self) -> None:
        channel, self._channel, self.hello_reply = self._channel, None, None
        if channel is not None:
            try:
                channel.close()
            except TransportError as e:
                log.debug("%s: closing the agent channel: %s", self.transport.name, e)

    def close(self) -> None:
        """End serve (its detached runs go on) and leave the transport open."""
        self._close_channel()

    def reconnect(self) -> Hello:
        """After a drop: a new transport connection (host key checked again) and a new serve."""
        self._close_channel()
        self.transport.reconnect()
        return self.open()

    def __enter__(self) -> "AgentClient":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # requests ---------------------------------------------------------------------------------
    def _call(self, op: str, timeout_s: float, arguments: Dict[str, Any]) -> Dict[str, Any]:
        assert self._channel is not None
        self._next_id += 1
        request_id = self._next_id
        self._channel.send_line(protocol.encode(protocol.request(request_id, op, **arguments)))
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimedOut("no time left")
                line = self._channel.read_line(left)
            except TimedOut as e:
                raise TimedOut(f"{self.transport.name}: agent did not answer {op!r} within {timeout_s:g} s") from e
            if line == "":
                why = (self._channel.stderr_text().strip().splitlines() or ["no message"])[-1]
                raise TransportError(f"{self.transport.name}: agent channel closed during {op!r} ({why})")
            try:
                reply = protocol.decode(line)
            except protocol.ProtocolError as e:
                log.warning("%s: ignoring a stray line from the agent: %s", self.transport.name, e)
                continue
            if reply.get("id") != request_id:
                log.debug("%s: dropping a late reply %r", self.transport.name, reply.get("id"))
                continue
            if not reply.get("ok"):
                raise AgentRequestFailed(f"{self.transport.name}: agent {op}: {reply.get('error', 'failed')}")
            return reply

    def call(self, op: str, timeout_s: Optional[float] = None, **arguments: Any) -> Dict[str, Any]:
        """One request (serve started on first use); the reply's fields, or AgentRequestFailed."""
        with self._lock:
            self.open()
            try:
                return self._call(op, timeout_s or self.timeout_s, arguments)
            except TimedOut:
                raise
            except TransportError:
                self._close_channel()  # the link is gone: the next request starts a new serve
                raise

    def hello(self) -> Hello:
        """The greeting of the running serve."""
        return self.open()

    def info(self) -> Dict[str, Any]:
        """Facts about the device (hostname, CPU, memory, Python, runtimes, LoadGen, boot_id)."""
        return self.call("info", timeout_s=max(self.timeout_s, 60.0))["info"]

    def time(self, timeout_s: float = 5.0) -> Tuple[int, int]:
        """The device's (UTC ns, monotonic ns) right now."""
        reply = self.call("time", timeout_s=timeout_s)
        return int(reply["t_ns"]), int(reply["mono_ns"])

    def start(self, job: Mapping[str, Any], run_id: Optional[str] = None) -> str:
        """Start a detached pass; returns its run_id (pid and out folder kept in self.started)."""
        arguments: Dict[str, Any] = {"job": dict(job)}
        if run_id:
            arguments["run_id"] = run_id
        reply = self.call("start", **arguments)
        self.started[reply["run_id"]] = {"pid": reply.get("pid"), "out": reply.get("out")}
        self.offsets.setdefault(reply["run_id"], 0)
        return str(reply["run_id"])

    def status(self, run_id: str) -> Dict[str, Any]:
        """{run_id, state, exit_code, result} of a run."""
        return self.call("status", run_id=run_id)

    def events(self, run_id: str, offset: int = 0) -> Tuple[List[Dict[str, Any]], int]:
        """Events written since a byte offset, and the offset to ask from next time."""
        reply = self.call("events", run_id=run_id, offset=offset)
        return list(reply["events"]), int(reply["next_offset"])

    def cancel(self, run_id: str) -> str:
        """Stop a run (SIGTERM, then SIGKILL after the agent's grace); returns its state."""
        return str(self.call("cancel", run_id=run_id, timeout_s=max(self.timeout_s, 30.0))["state"])

    # following a run ----------------------------------------------------------------------------
    def _read_new(self, run_id: str, on_event: Callable[[Dict[str, Any]], None]) -> List[Dict[str, Any]]:
        events, next_offset = self.events(run_id, self.offsets.get(run_id, 0))
        for event in events:
            on_event(event)
        self.offsets[run_id] = next_offset
        return events

    def follow(
        self,
        run_id: str,
        on_event: Callable[[Dict[str, Any]], None],
        poll_s: float = 0.1,
        timeout_s: Optional[float] = None,
        reconnects: int = 5,
    ) -> Dict[str, Any]:
        """Pass each new event to on_event until the run ends; re-attach after drops; return its status.

        Events are read from the offset kept per run, which only moves once a batch was handed
        over, so a drop loses and repeats nothing.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        drops = 0
        seen_end = False
        ended_at: Optional[float] = None
        while True:
            try:
                events = self._read_new(run_id, on_event)
                drops = 0
                seen_end = seen_end or any(e.get("event") in TERMINAL_EVENTS for e in events)
                if events:
                    continue
                status = self.status(run_id)
                if status["state"] != protocol.STATE_RUNNING:
                    if seen_end or status["state"] == protocol.STATE_LOST:
                        return status
                    ended_at = ended_at or time.monotonic()
                    if time.monotonic() - ended_at > FINAL_EVENT_GRACE_S:
                        log.warning("%s: run %s ended without its last event", self.transport.name, run_id)
                        return status
            except (HostKeyError, AuthenticationError, AgentRequestFailed, AgentUnavailable):
                raise
            except TransportError as e:
                drops += 1
                if drops > reconnects:
                    raise
                log.warning("%s: lost the agent while following %s (%s); re-attaching", self.transport.name, run_id, e)
                try:
                    self.reconnect()
                except (HostKeyError, AuthenticationError, AgentUnavailable):
                    raise
                except TransportError as again:
                    log.warning("%s: re-attach failed: %s", self.transport.name, again)
                continue
            if deadline is not None and time.monotonic() > deadline:
                raise TimedOut(f"{self.transport.name}: run {run_id} still running after {timeout_s:g} s")
            time.sleep(poll_s)


def agent_for(
    transport: Transport,
    python: str = "python3",
    workdir: str = "~/.cache/edgepower",
    env: Optional[Mapping[str, str]] = None,
    check: bool = True,
    timeout_s: float = 30.0,
) -> AgentClient:
    """Ready the agent on a device: deploy it if its hash is absent, check the Python (AgentUnavailable
    listing what to install), start serve with runs under `<workdir>/runs`, say hello; the client."""
    from director.deploy import check_device, deploy_agent

    pythonpath = deploy_agent(transport)
    if check:
        check_device(transport, python)
    client = AgentClient(transport, python, pythonpath, root=workdir.rstrip("/") + "/runs", env=env, timeout_s=timeout_s)
    client.open()
    return client


@dataclass
class DeviceLink:
    """A device's transport and agent, opened once and lent to the sessions of a sweep's worker, which
    saves each job the connection, the deployment check and the agent's start."""

    transport: Transport
    client: AgentClient

    @classmethod
    def open(cls, device: Any, known_hosts: Optional[str] = None) -> "DeviceLink":
        """Connect to an inventory Device and start its agent."""
        from director.ssh import transport_for

        transport = transport_for(device, known_hosts=known_hosts)
        try:
            return cls(transport, agent_for(transport, device.python, device.workdir, env=dict(device.env)))
        except BaseException:
            transport.close()
            raise

    def close(self) -> None:
        """Stop the agent's server and close the connection."""
        try:
            self.client.close()
        finally:
            self.transport.close()
