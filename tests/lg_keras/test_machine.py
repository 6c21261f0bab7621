"""Tests of lg_keras/machine.py on hand-written /proc files and on this machine."""

import platform

import pytest

from lg_keras import machine

_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Example CPU @ 2.00GHz
flags\t\t: fpu sse2 avx2 avx512f {extra}

processor\t: 1
model name\t: Example CPU @ 2.00GHz
flags\t\t: fpu sse2 avx2 avx512f {extra}
"""


@pytest.mark.parametrize("extra,expected", [
    ("amx_bf16 amx_tile", True), ("avx512_bf16", True), ("avx512_vnni", False), ("", False),
    ("avx512_bf16x", False),  # whole flags only
])
def test_native_bfloat16_reads_the_cpu_flags(tmp_path, extra, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(_CPUINFO.format(extra=extra))
    assert machine.native_bfloat16(str(path)) is expected
    assert machine.cpu_model(str(path)) == "Example CPU @ 2.00GHz"
    assert {"fpu", "avx512f"} <= machine.cpu_flags(str(path))


def test_missing_proc_files_mean_unknown_not_an_error(tmp_path):
    missing = str(tmp_path / "absent")
    assert machine.native_bfloat16(missing) is False
    assert machine.cpu_flags(missing) == frozenset()
    assert machine.memory_bytes(missing) is None
    assert machine.cpu_model(missing) == (platform.processor() or "unknown")


def test_memory_is_read_in_bytes(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text("MemTotal:       24641536 kB\nMemFree:        1000 kB\n")
    assert machine.memory_bytes(str(path)) == 24641536 * 1024


def test_this_machine_is_described():
    facts = machine.describe()
    assert set(facts) == {"cpu", "cores", "memory_gib", "native_bfloat16", "platform"}
    assert facts["cores"] >= 1 and isinstance(facts["native_bfloat16"], bool)
