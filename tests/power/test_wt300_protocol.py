"""The WT300 and WT210 protocol state machines, byte for byte, on a manual clock.

Unverified facts these tests pin down (analyzers.md marks them so; change both sides when a real meter
says otherwise): error numbers 113, 222, 410, 350 (Yokogawa's positive numbering of the 488.2 errors; the
8xx integration codes come from yoko-tool); the WT310E's *IDN? spelling; INF / NAN for overrange / no
data in WT310E ASCII replies; 5 significant digits on the WT310E; both :RATE and :SAMP:RATE existing in
WT300 mode; the WT210's items on after reset (V, A, W).
"""

from __future__ import annotations

import struct

import pytest

from power.simulators.scpi_syntax import ScpiError, nr3, parse_number
from power.simulators.truth import Constant
from power.simulators.wt210 import WT210
from power.simulators.wt300 import WT300

TENTH_S = 100_000_000


@pytest.fixture
def wt(manual_clock):
    """A WT310E, exact values (no noise), 60 W at 230 V, PF 0.9, 0.1 s updates."""
    return WT300("WT310E", truth=Constant(60.0), clock=manual_clock, noise=False)


def ask(meter, text: str) -> str:
    return meter.feed(text.encode() + b"\n").decode()


def settle(meter, clock, updates: int = 2) -> None:
    clock.advance(updates * TENTH_S)
    meter.tick()


def test_idn_per_model(manual_clock):
    assert ask(WT300("WT310", clock=manual_clock), "*IDN?") == "YOKOGAWA,WT310,C2PH13047V,F1.03\r\n"
    assert ask(WT300("WT310E", clock=manual_clock), "*idn?") == "YOKOGAWA,WT310E,C2PH13047V,F1.03\r\n"
    assert ask(WT300("WT333E", clock=manual_clock), "*IDN?") == "YOKOGAWA,WT333E,C2SF14011V,F1.01EM\r\n"
    assert ask(WT210(clock=manual_clock), "*IDN?") == "YOKOGAWA,WT210,91K000001,F3.01\r\n"


def test_headers_short_long_case_and_path_continuation(wt):
    assert ask(wt, ":INP:VOLT:RANG 300V;:INP:CURR:RANG 500MA") == ""
    assert ask(wt, ":INP:CURR:RANG?;AUTO?;:INP:VOLT:RANG?;AUTO?") == "500.0E-03;0;300.0E+00;0\r\n"
    assert ask(wt, ":input:voltage:range?") == "300.0E+00\r\n"
    assert ask(wt, "INPUT:CURRENT:RANGE?") == "500.0E-03\r\n"
    assert ask(wt, ":INP:VOLT?") == "300.0E+00\r\n"  # [:RANGe] is optional
    assert ask(wt, ":INP:VOLT:AUTO ON;:INP:VOLT:AUTO?;:INP:MODE?;CFAC?") == "1;RMS;3\r\n"
    assert ask(wt, ":NUM:NORM:ITEM1 P,1;ITEM2 URANGE;:NUM:NORM:ITEM1?;ITEM2?") == "P,1;URANGE,1\r\n"


def test_head_and_verbose_replies(wt):
    assert ask(wt, ":COMM:HEAD ON;:INP:VOLT:RANG?") == ":INP:VOLT:RANG 600.0E+00\r\n"
    assert ask(wt, ":COMM:VERB ON;:INP:VOLT:RANG?;:NUM:FORM?") == ":INPUT:VOLTAGE:RANGE 600.0E+00;:NUMERIC:FORMAT ASCII\r\n"
    assert ask(wt, ":COMM:HEAD OFF;:NUM:FORM?;:COMM:VERB OFF;:NUM:FORM?") == "ASCII;ASC\r\n"


def test_values_are_nr3_with_five_digits_and_ranges_as_items(wt, manual_clock):
    ask(wt, ":INP:VOLT:RANG 300;:INP:CURR:RANG 0.5;:NUM:NORM:NUM 6")
    ask(wt, ":NUM:NORM:ITEM1 U,1;ITEM2 I,1;ITEM3 P,1;ITEM4 LAMBDA,1;ITEM5 URANGE,1;ITEM6 IRANGE,1")
    settle(wt, manual_clock)
    assert ask(wt, ":NUM:NORM:VAL?") == "230.00E+00,289.86E-03,60.000E+00,900.00E-03,300.00E+00,500.00E-03\r\n"
    assert ask(wt, ":NUMERIC:NORMAL:VALUE? 3") == "60.000E+00\r\n"
    assert ask(wt, ":NUM:NORM:NUM?") == "6\r\n"


def test_nr3_formatting():
    assert nr3(0.24002) == "240.02E-03"
    assert nr3(227.37) == "227.37E+00"
    assert nr3(999.996) == "1.0000E+03"
    assert nr3(-12.34567) == "-12.346E+00"
    assert nr3(0.0) == "0.0000E+00"
    assert nr3(12.3456, 6) == "12.3456E+00"
    assert nr3(300.0, 4) == "300.0E+00" and nr3(1.0, 4) == "1.000E+00"
    assert parse_number("500MA", "A") == 0.5 and parse_number("5E-3") == 0.005 and parse_number("150V", "V") == 150
    with pytest.raises(ScpiError):
        parse_number("1XV", "V")


def test_overrange_is_inf_and_no_data_is_nan_configurably(manual_clock):
    for over, nodata, kw in (("INF", "NAN", {}), ("9.9E+37", "9.91E+37", {"overrange": "9.9E+37", "no_data": "9.91E+37"})):
        meter = WT300("WT310E", truth=Constant(60.0), clock=manual_clock, noise=False, **kw)
        ask(meter, ":NUM:NORM:NUM 3;:NUM:NORM:ITEM1 U;ITEM2 I;ITEM3 P;:INP:VOLT:RANG 300;:INP:CURR:RANG 0.2")
        manual_clock.advance(TENTH_S)
        meter.tick()
        assert ask(meter, ":NUM:NORM:VAL?") == f"{nodata},{nodata},{nodata}\r\n"  # first update after a range change
        manual_clock.advance(TENTH_S)
        assert ask(meter, ":NUM:NORM:VAL?") == f"230.00E+00,{over},{over}\r\n"  # 0.29 A on 0.2 A: 145 %


def test_wait_holds_the_reply_until_the_next_update(wt, manual_clock):
    assert ask(wt, ":STAT:FILT1 FALL;:STAT:FILT1?;:STAT:EESR?") == "FALL;0\r\n"
    settle(wt, manual_clock, 1)
    assert ask(wt, ":STAT:EESR?;:STAT:EESR?") == "1;0\r\n"  # read clears
    assert ask(wt, ":COMM:WAIT 1;:NUM:NORM:VAL? 3;:STAT:EESR?") == ""
    assert wt.engine.holding
    manual_clock.advance(TENTH_S // 2)
    wt.tick()
    assert wt.read() == b""
    manual_clock.advance(TENTH_S // 2)
    wt.tick()
    assert wt.read() == b"60.000E+00;1\r\n"
    assert not wt.engine.holding


def test_query_interrupted_and_the_lf_cls_recovery(wt):
    assert ask(wt, ":STAT:QMES ON") == ""
    wt.write(b"*IDN?\n")
    wt.write(b":INP:MODE?\n")  # the *IDN? reply was never read
    assert wt.read() == b"RMS\r\n"
    assert ask(wt, ":STAT:ERR?;:STAT:ERR?") == '410,"Query INTERRUPTED";0,"No error"\r\n'
    wt.write(b"*IDN?\n")
    assert ask(wt, "\n*CLS") == ""
    assert ask(wt, ":STAT:ERR?") == '0,"No error"\r\n'


def test_error_queue_codes_and_overflow(wt):
    assert ask(wt, ":STAT:ERR?") == "0\r\n"  # QMES OFF: code only
    ask(wt, ":STAT:QMES ON")
    ask(wt, ":BOGUS 1")
    ask(wt, ":INP:CURR:RANG 3")
    ask(wt, ":RATE 0.3")
    assert ask(wt, ":STAT:ERR?;:STAT:ERR?;:STAT:ERR?;:STAT:ERR?") == (
        '113,"Undefined header";222,"Data out of range";222,"Data out of range";0,"No error"\r\n')
    for _ in range(12):
        ask(wt, ":NOPE")
    codes = [ask(wt, ":STAT:ERR?").split(",")[0] for _ in range(9)]
    assert codes == ["113"] * 7 + ["350", "0"]


def test_rate_and_sample_rate_are_both_accepted(wt):
    assert ask(wt, ":RATE 1S;:RATE?") == "1.0E+00\r\n"
    assert ask(wt, ":SAMP:RATE 250MS;:SAMPLE:RATE?;:RATE?") == "250.0E-03;250.0E-03\r\n"
    assert ask(wt, ":RATE 0.1;:RATE?") == "100.0E-03\r\n"


def test_integration_values_and_error_codes(wt, manual_clock):
    ask(wt, ":STAT:QMES ON;:INP:VOLT:RANG 300;:INP:CURR:RANG 0.5;:NUM:NORM:NUM 3")
    ask(wt, ":NUM:NORM:ITEM1 WH;ITEM2 TIME;ITEM3 AH")
    assert ask(wt, ":INTEG:STOP;:STAT:ERR?") == '844,"Integration not started"\r\n'
    assert ask(wt, ":INTEG:STAR;:INTEG:STAT?") == "START\r\n"
    assert ask(wt, ":INTEG:STAR;:STAT:ERR?") == '842,"Integration already started"\r\n'
    assert ask(wt, ":INTEG:RES;:STAT:ERR?") == '845,"Cannot reset during integration"\r\n'
    assert ask(wt, ":INP:VOLT:RANG 150;:STAT:ERR?") == '813,"Operation not allowed during integration"\r\n'
    manual_clock.advance(10 * TENTH_S)
    assert ask(wt, ":INTEG:STOP;:INTEG:STAT?") == "STOP\r\n"
    manual_clock.advance(TENTH_S)
    assert ask(wt, ":NUM:NORM:VAL?") == "16.6667E-03,1,80.5153E-06\r\n"  # 60 W for 1 s; 0.28986 A for 1 s
    assert ask(wt, ":INTEG:RES;:INTEG:STAT?") == "RESET\r\n"


def test_float_format_block(wt, manual_clock):
    ask(wt, ":NUM:NORM:NUM 2;:NUM:NORM:ITEM1 P;ITEM2 NONE;:NUM:FORM FLOAT")
    settle(wt, manual_clock)
    reply = wt.feed(b":NUM:NORM:VAL?\n")
    assert reply[:6] == b"#40008" and reply[-2:] == b"\r\n"
    power_w, none = struct.unpack(">ff", reply[6:14])
    assert power_w == pytest.approx(60.0) and none != none  # NAN for "no item"


def test_wt210_fixed_order_items_and_legacy_silence(manual_clock):
    wt210 = WT210(truth=Constant(60.0), clock=manual_clock, noise=False)
    assert ask(wt210, ":CONF:VOLT:RANG 300;:CONF:CURR:RANG 1;:CONF:VOLT:RANG?;:CONF:CURR:AUTO?") == "300.0E+00;0\r\n"
    ask(wt210, ":MEAS:ITEM:PF ON;:MEAS:ITEM:VA ON;W OFF")
    settle(wt210, manual_clock)
    assert ask(wt210, ":MEAS:VAL?") == "230.0E+00,289.9E-03,66.67E+00,900.0E-03\r\n"  # V, A, VA, PF order
    ask(wt210, ":CONF:CURR:RANG 0.1")
    manual_clock.advance(TENTH_S)
    assert ask(wt210, ":MEAS:VAL?") == "9.91E+37,9.91E+37,9.91E+37,9.91E+37\r\n"
    manual_clock.advance(TENTH_S)
    assert ask(wt210, ":MEAS:VAL?") == "230.0E+00,9.9E+37,9.9E+37,9.9E+37\r\n"
    legacy = WT210(clock=manual_clock, mode_4882=False)
    assert ask(legacy, "*IDN?") == "" and ask(legacy, ":MEAS:VAL?") == ""


def test_usb_terminator_is_lf(manual_clock):
    usb = WT300("WT310E", clock=manual_clock, terminator=b"\n")
    assert usb.feed(b"*IDN?\r\n") == b"YOKOGAWA,WT310E,C2PH13047V,F1.03\n"
