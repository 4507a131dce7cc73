"""CPU features that decide which serving backends apply and which one is fastest."""
from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from typing import Iterable, Optional


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> frozenset:
    """The ``flags`` of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@dataclass(frozen=True)
class CpuFeatures:
    """What the INT8 and BF16 kernels use: VNNI (INT8 dot products), AMX (INT8/BF16 tiles), AVX-512 BF16."""
    avx512_vnni: bool
    amx: bool
    avx512_bf16: bool

    @property
    def int8_dot(self) -> bool:
        """INT8 dot products that accumulate in 32 bits (VNNI / AMX); without them (AVX2, AVX-512F) the u8 x s8
        pairs are summed into 16 bits first and can saturate for full-range 8-bit weights."""
        return self.avx512_vnni or self.amx

    @property
    def bf16(self) -> bool:
        """Native BF16 arithmetic: without it oneDNN/OpenVINO BF16 is emulated and slower than FP32."""
        return self.avx512_bf16 or self.amx

    def as_dict(self) -> dict:
        return asdict(self)


def features(flags: Optional[Iterable[str]] = None) -> CpuFeatures:
    """Features of this CPU, or of ``flags`` (a ``/proc/cpuinfo`` flag set, injectable for tests)."""
    flags = cpu_flags() if flags is None else frozenset(flags)
    return CpuFeatures(avx512_vnni="avx512_vnni" in flags, amx="amx_bf16" in flags or "amx_int8" in flags,
                       avx512_bf16="avx512_bf16" in flags)
