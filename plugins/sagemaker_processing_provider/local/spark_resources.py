"""How big the local Spark cluster's workers are: the instance type's size, scaled to this machine.

SageMaker's Spark container gives each instance one executor with all its vCPUs (and the driver 90%
of the primary's memory). Locally the N "instances" share this machine, so each worker gets

- cores: the instance's vCPUs, at most ``this machine's cores // N``, at least 1;
- memory: the instance's memory, at most an equal share of half this machine's memory between the
  N executors and the driver (``total / 2 / (N + 1)``), at least 1 GiB.

The driver gets the same memory as a worker. An instance type's size comes from its name (EC2's rule:
``large`` = 2 vCPUs, ``xlarge`` = 4, ``<k>xlarge`` = 4k; ``ml.t3.medium`` = 2) and its family's
memory per vCPU below: EC2's figures for every Processing instance type (tested against EC2's data)
except ``c4`` (7% less memory; ``c4.8xlarge`` has 36 vCPUs), ``g7e`` from ``12xlarge`` (a third more
memory) and ``p2``/``p3`` (not in that data).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# GiB per vCPU, by family (longest matching prefix wins).
GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "t": 2, "t3": 4, "g": 4, "g6e": 8, "g7e": 8, "p": 16}
MIN_MEMORY_MIB = 1024
_SIZE = re.compile(r"^(?:(\d*)xlarge|large|medium)$")
_MEMORY = re.compile(r"^\s*(\d+)\s*([kmgtp]?)b?\s*$", re.IGNORECASE)
_MIB_PER_UNIT = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024**2, "p": 1024**3}


@dataclass(frozen=True)
class Shape:
    """vCPUs and memory (MiB): an instance's, or a local worker's."""

    cores: int
    memory_mib: int


def instance_shape(instance_type: str) -> Shape:
    """``ml.m5.xlarge`` -> Shape(4, 16384); ValueError for a name without a known family or size."""
    parts = instance_type.split(".")
    match = _SIZE.match(parts[-1]) if len(parts) == 3 and parts[0] == "ml" else None
    family = parts[1] if match else ""
    prefix = max((p for p in GIB_PER_VCPU if family.startswith(p)), key=len, default=None)
    if not match or prefix is None:
        raise ValueError(
            f"instance type {instance_type!r}: expected ml.<family>.<size> with a family starting with one "
            f"of {sorted(GIB_PER_VCPU)} and a size large, medium, xlarge or <k>xlarge"
        )
    if parts[-1] == "medium":
        return Shape(2, 4096)
    vcpus = 2 if parts[-1] == "large" else 4 * int(match.group(1) or 1)
    return Shape(vcpus, vcpus * GIB_PER_VCPU[prefix] * 1024)


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container's limit would be)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine_memory_mib() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def worker_shape(
    instance_type: str, count: int, cores: int | None = None, memory_mib: int | None = None
) -> Shape:
    """One worker of ``count``, sized by the rule in the module docstring (``cores``/``memory_mib``:
    this machine's, for tests)."""
    instance = instance_shape(instance_type)
    cores = machine_cores() if cores is None else cores
    memory_mib = machine_memory_mib() if memory_mib is None else memory_mib
    share = memory_mib // 2 // (count + 1)
    return Shape(
        max(1, min(instance.cores, cores // count)), max(MIN_MEMORY_MIB, min(instance.memory_mib, share))
    )


def memory_mib(value: str) -> int:
    """Spark's size strings for executor memory (``4g``, ``512m``, ``2048`` = MiB) -> MiB."""
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a memory size such as 4g or 512m")
    return int(int(match.group(1)) * _MIB_PER_UNIT[match.group(2).lower()])
