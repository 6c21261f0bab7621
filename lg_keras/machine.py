"""What this machine is: CPU model and flags, core count, memory (no TensorFlow import).

The report and `make bench` state the hardware they ran on; profiles ask whether the CPU computes
bfloat16 natively (oneDNN then runs bfloat16 convolutions on AMX or AVX512-BF16 units, about 1.5x
faster than float32 for the thin ResNet-18 here; without them bfloat16 is emulated and slower).
Linux facts come from /proc; elsewhere the functions fall back to `platform` or say unknown.
"""

import os
import platform

# CPU flags (/proc/cpuinfo) of units that compute bfloat16 natively.
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _proc_field(path: str, key: str) -> str | None:
    """The value after 'key:' on the first line of a /proc file that starts with `key`."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name, e.g. 'Intel(R) Xeon(R) Processor'."""
    return _proc_field(cpuinfo, "model name") or platform.processor() or "unknown"


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    return frozenset((_proc_field(cpuinfo, "flags") or "").split())


def native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16)."""
    return bool(cpu_flags(cpuinfo) & set(BFLOAT16_CPU_FLAGS))


def memory_bytes(meminfo: str = "/proc/meminfo") -> int | None:
    """Total memory in bytes, or None where /proc/meminfo does not exist."""
    total = _proc_field(meminfo, "MemTotal")
    return int(total.split()[0]) * 1024 if total else None


def describe() -> dict:
    """CPU model, cores, memory (GiB), native bfloat16 and platform, for reports."""
    memory = memory_bytes()
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "memory_gib": round(memory / 2 ** 30, 1) if memory else None,
            "native_bfloat16": native_bfloat16(), "platform": platform.platform()}
