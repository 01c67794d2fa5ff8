"""Clock sync: the estimator on known pings, and a real board whose clock faketime shifts by +3.7 s."""

from __future__ import annotations

import random

import pytest

from director import clocksync
from director.agent_client import AgentClient
from director.clocksync import ClockSync, Ping, check, drift, estimate, measure, offset_at
from director.deploy import deploy_agent
from power.checks import CheckStatus
from tests.director.conftest import FAKETIME_OFFSET_S

MS = 1_000_000


def synthetic_pings(offset_ns: int, n: int = 100, seed: int = 1) -> list:
    """Pings with random, asymmetric delays (queueing now and then) around a known offset."""
    rng = random.Random(seed)
    pings, t = [], 1_700_000_000 * 10**9
    for _ in range(n):
        up = rng.uniform(0.1, 0.2) * MS + (rng.random() < 0.3) * rng.uniform(1, 20) * MS
        down = rng.uniform(0.1, 0.2) * MS + (rng.random() < 0.3) * rng.uniform(1, 20) * MS
        send = t
        device = int(send + up + offset_ns)
        recv = int(send + up + down)
        pings.append(Ping(send, recv, device, recv - send))
        t += 10 * MS
    return pings


def test_the_estimate_keeps_short_round_trips_and_bounds_its_error():
    for offset_ns in (0, 3_700 * MS, -1_234_567_890):
        sync = estimate(synthetic_pings(offset_ns))
        assert abs(sync.offset_ns - offset_ns) <= sync.bound_ns < 0.3 * MS
        assert sync.pings == 100 and sync.kept == 20 and sync.rtt_min_ns <= sync.rtt_median_ns
    with pytest.raises(ValueError):
        estimate([])


def test_drift_and_interpolation():
    before = ClockSync(offset_ns=1_000_000, bound_ns=100, rtt_min_ns=200, rtt_median_ns=300, pings=60, t_ns=0)
    after = ClockSync(offset_ns=1_500_000, bound_ns=100, rtt_min_ns=200, rtt_median_ns=300, pings=60, t_ns=10 * 10**9)
    assert drift(before, after) == pytest.approx(50_000)  # 50 µs/s = 50 ppm
    assert offset_at(before, after, 5 * 10**9) == 1_250_000 and offset_at(before, None, 99) == 1_000_000
    assert before.to_host_ns(2_000_000) == 1_000_000
    with pytest.raises(ValueError):
        drift(after, before)


def test_thresholds_pass_warn_fail_with_reasons():
    def sync(bound_ns, offset_ns=0):
        return ClockSync(offset_ns, bound_ns, 2 * bound_ns, 3 * bound_ns, 60, 0)

    assert check(sync(100_000)).status is CheckStatus.PASS
    warn = check(sync(6 * MS))
    assert warn.status is CheckStatus.WARN and "6.000 ms > 5 ms" in warn.reason and "within the official 400 ms" in warn.reason
    assert check(sync(60 * MS)).status is CheckStatus.FAIL
    moved = check(sync(100_000), sync(100_000, offset_ns=20 * MS))
    assert moved.status is CheckStatus.WARN and "moved 20.000 ms" in moved.reason
    assert check(sync(6 * MS), warn_ns=10 * MS).status is CheckStatus.PASS
    assert clocksync.OFFICIAL_LIMIT_NS == 400 * MS


def test_a_shifted_board_clock_is_measured_within_a_few_ms(sshd_faketime, board_python):
    with sshd_faketime.transport() as ssh:
        with AgentClient(ssh, board_python, deploy_agent(ssh), root="~/runs") as client:
            sync = measure(client, pings=60)
    error_ns = sync.offset_ns - round(FAKETIME_OFFSET_S * 1e9)
    assert abs(error_ns) < 5 * MS and abs(error_ns) <= sync.bound_ns + MS // 2, sync  # typically ~20 µs
    assert 0 < sync.bound_ns < 5 * MS and sync.pings == 60 and sync.kept == 12
    assert check(sync).status in (CheckStatus.PASS, CheckStatus.WARN)


def test_an_unshifted_board_agrees_within_its_bound(sshd, board_python):
    with sshd.transport() as ssh:
        with AgentClient(ssh, board_python, deploy_agent(ssh), root="~/runs") as client:
            sync = measure(client, pings=30)
    assert abs(sync.offset_ns) <= sync.bound_ns + 1 * MS  # same kernel clock on both ends
