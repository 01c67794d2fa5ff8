"""spl.txt: exact format, byte-for-byte round trips (real MLPerf files included), bad lines named."""

from __future__ import annotations

import calendar
import math
from pathlib import Path

import pytest

from power import spl
from power.errors import FileFormatError
from power.sample import Sample, Status

ORIN = "mlperf-v3.0-orin-maxq/results/Orin_TRT_MaxQ/resnet50"
REAL_FILES = [
    f"{scenario}/performance/{phase}/spl.txt"
    for scenario in ("SingleStream", "Offline")
    for phase in ("ranging", "run_1")
]
LINE = ("Time,02-24-2023 06:21:23.902,Watts,6.320000,Volts,206.830000,Amps,0.112230,"
        "PF,0.272300,Mark,2023-02-23_22-09-32_testing")
MULTI = ("Time,11-13-2020 22:38:59.240,Watts,272.930000,Volts,-1.000000,Amps,-1.000000,"
         "PF,-1.000000,Mark,notset,Ch1,Watts,91.060000,Volts,120.950000,Amps,0.832100,"
         "PF,0.938900,Ch2,Watts,181.870000,Volts,121.010000,Amps,1.540000,PF,0.976000")


def _ns(y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 10**9 + ms * 10**6


@pytest.mark.parametrize("relative", REAL_FILES)
def test_real_mlperf_files_round_trip_byte_for_byte(shared_fixtures: Path, relative: str) -> None:
    path = shared_fixtures / ORIN / relative
    original = path.read_bytes()
    parsed = spl.read_spl_file(path)
    rewritten = "".join(spl.iter_lines(parsed.records, parsed.newline)).encode("ascii")
    assert rewritten == original
    assert parsed.skipped_lines == ()
    assert len(parsed.records) == original.count(b"\n")


def test_real_file_keeps_windows_newlines_and_values(shared_fixtures: Path, tmp_path: Path) -> None:
    path = shared_fixtures / ORIN / "SingleStream/performance/run_1/spl.txt"
    parsed = spl.read_spl_file(path)
    assert parsed.newline == "\r\n"  # that PTDaemon ran on Windows
    first = parsed.records[0]
    assert first.t_ns == _ns(2023, 2, 24, 6, 21, 23, 902)
    assert (first.watts, first.volts, first.amps, first.pf) == (6.32, 206.83, 0.11223, 0.2723)
    assert first.mark == "2023-02-23_22-09-32_testing"
    out = tmp_path / "spl.txt"
    spl.write_spl(out, parsed.records, newline=parsed.newline)
    assert out.read_bytes() == path.read_bytes()


def test_ranging_file_keeps_ptd_minus_one_rows(shared_fixtures: Path) -> None:
    records = spl.read_spl(shared_fixtures / ORIN / "SingleStream/performance/ranging/spl.txt")
    bad = [r for r in records if not r.power_available]
    assert bad and all(r.volts == r.amps == r.pf == -1.0 for r in bad)
    assert spl.sample_from_record(bad[0], 10**9).status is Status.NO_DATA


def test_time_is_month_first_utc_with_milliseconds_truncated() -> None:
    t_ns = _ns(2023, 2, 24, 6, 21, 23, 902)
    assert spl.format_mlperf_time(t_ns) == "02-24-2023 06:21:23.902"
    assert spl.format_mlperf_time(t_ns + 999_999) == "02-24-2023 06:21:23.902"
    assert spl.parse_mlperf_time("02-24-2023 06:21:23.902") == t_ns
    assert spl.parse_mlperf_time("02-24-2023 06:21:23.9021") == t_ns + 100_000
    assert spl.parse_mlperf_time("02-24-2023 06:21:23") == t_ns - 902 * 10**6
    for bad in ("24-02-2023 06:21:23.902", "2023-02-24 06:21:23.902", "02-24-2023 06:21:23.1234567",
                "02-30-2023 25:00:00.000"):
        with pytest.raises(ValueError):
            spl.parse_mlperf_time(bad)


def test_single_line_fields_and_format() -> None:
    record = spl.parse_line(LINE)
    assert spl.format_record(record) == LINE
    assert record.channels == () and record.analyzers == ()
    assert record.time_text == "02-24-2023 06:21:23.902"


def test_multichannel_row_sum_first_then_channels() -> None:
    record = spl.parse_line(MULTI)
    assert record.watts == 272.93 and record.volts == -1.0
    assert [c.label for c in record.channels] == ["Ch1", "Ch2"]
    assert record.channels[1] == spl.SplChannel("Ch2", 181.87, 121.01, 1.54, 0.976)
    assert spl.format_record(record) == MULTI


def test_merged_multi_analyzer_row_round_trips_and_sums_abs_watts() -> None:
    a = spl.parse_line(LINE)
    b = spl.parse_line(MULTI.replace("Mark,notset", "Mark,2023-02-23_22-09-32_testing"))
    c = spl.SplRecord(a.t_ns + 5_000_000, -1.0, -1.0, -1.0, -1.0, "x")
    negative = spl.SplRecord(a.t_ns, -2.5, 230.0, 0.1, -0.1, "x")
    merged = spl.merged_record([a, b, c, negative])
    assert merged.watts == pytest.approx(6.32 + 272.93 + 2.5, abs=1e-12)
    assert merged.t_ns == a.t_ns and merged.mark == a.mark
    text = spl.format_record(merged)
    assert text.startswith("Time,02-24-2023 06:21:23.902,Watts,281.750000,Volts,-1.000000,"
                           "Amps,-1.000000,PF,-1.000000,Mark,2023-02-23_22-09-32_testing,"
                           "Analyzer1,Time,02-24-2023 06:21:23.902,Watts,6.320000,")
    again = spl.parse_line(text)
    assert again == merged
    assert [label for label, _ in again.analyzers] == ["Analyzer1", "Analyzer2", "Analyzer3",
                                                      "Analyzer4"]
    assert again.analyzers[1][1].channels[0].watts == 91.06
    assert spl.format_record(again) == text


def test_ptd_rl_rows_have_no_mark() -> None:
    row = "Time,01-22-2021 15:05:14.313,Watts,22.970000,Volts,227.370000,Amps,0.204340,PF,0.494400"
    record = spl.parse_line(row)
    assert record.mark is None
    assert spl.format_record(record) == row


def test_lines_not_starting_with_time_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "spl.txt"
    path.write_bytes(("header\n" + LINE + "\n\n" + LINE + "\n   \n").encode())
    parsed = spl.read_spl_file(path)
    assert len(parsed.records) == 2
    assert parsed.skipped_lines == (1, 3, 5)


@pytest.mark.parametrize("bad, what", [
    (LINE.replace("Watts,6.320000", "Watts,six"), "Watts value 'six' at field 4"),
    (LINE.replace("Volts,", "Voltz,"), "expected 'Volts' at field 5"),
    (LINE.replace("02-24-2023", "24-02-2023"), "bad Time '24-02-2023 06:21:23.902'"),
    (LINE[:40], "row ends"),
    (LINE + ",Bogus,1", "unexpected field 'Bogus' at field 13"),
    (MULTI.replace("Ch2,Watts,181.870000", "Ch2,Watts,?"), "Ch2 Watts value '?'"),
])
def test_corrupt_line_names_file_and_line(tmp_path: Path, bad: str, what: str) -> None:
    path = tmp_path / "spl.txt"
    path.write_text(LINE + "\n" + LINE + "\n" + bad + "\n" + LINE + "\n")
    with pytest.raises(FileFormatError) as info:
        spl.read_spl(path)
    assert f"{path}:3:" in str(info.value)
    assert what in str(info.value)


def test_unreadable_file_is_a_file_format_error(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="cannot read"):
        spl.read_spl(tmp_path / "missing.txt")
    path = tmp_path / "binary.txt"
    path.write_bytes(b"Time,\xff\n")
    with pytest.raises(FileFormatError, match="not an ASCII"):
        spl.read_spl(path)


def test_writer_flushes_each_row_never_ends_blank_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "spl.txt"
    record = spl.parse_line(LINE)
    with spl.SplWriter(path) as writer:
        writer.write(record)
        assert path.read_text() == LINE + "\n"  # flushed before close
        writer.write(record)
    data = path.read_bytes()
    assert data == (LINE + "\n" + LINE + "\n").encode()
    assert not data.endswith(b"\n\n")
    with pytest.raises(FileFormatError, match="never rewritten"):
        spl.write_spl(path, [record])
    assert path.read_bytes() == data


def test_a_full_disk_is_one_file_format_error_and_the_rows_written_stay(tmp_path: Path) -> None:
    record = spl.parse_line(LINE)
    path = tmp_path / "spl.txt"
    with spl.SplWriter(path) as writer:
        writer.write(record)
        writer._file.close()
        writer._file = open("/dev/full", "w", encoding="ascii", newline="")  # noqa: SIM115 - the disk fills up here
        with pytest.raises(FileFormatError, match=r"spl.txt: write failed \(No space left on device\)"):
            writer.write(record)
    assert path.read_text() == LINE + "\n"


def test_samples_convert_to_ptd_rows_and_back() -> None:
    t = _ns(2023, 2, 24, 6, 21, 23, 902) + 456_789
    ok = Sample(t, 10**9, 6.32, 206.83, 0.11223, 0.2723, 300.0, 0.5, Status.OK, 0.08)
    row = spl.record_from_sample(ok, "m")
    assert spl.format_record(row) == LINE.replace("2023-02-23_22-09-32_testing", "m")
    back = spl.sample_from_record(row, 10**9, 300.0, 0.5, 0.08)
    assert back.t_end_ns == t - 456_789 and back.power_w == 6.32 and back.ok
    nan = math.nan
    missing = Sample(t, 10**9, nan, nan, nan, nan, 300.0, 0.5, Status.OVERRANGE)
    assert spl.format_record(spl.record_from_sample(missing, "m")).startswith(
        "Time,02-24-2023 06:21:23.902,Watts,-1.000000,Volts,-1.000000,Amps,-1.000000,PF,-1.000000")
