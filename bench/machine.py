"""What machine a benchmark ran on, and how busy it was: printed before every bench.

A figure means little without its machine: two cores shared with a test run
give half the throughput of the same two cores idle. Every script in bench/
calls ``print_machine()`` first, so each output carries the CPU count, the
model, the memory and the load averages it was measured under, and says so
when the machine was busy. It also times a fixed pure-Python workload: on a
VM, a busy host slows every figure while the guest's own load stays low, and
this one number tells two days (or two machines) apart.

    .venv/bin/python bench/machine.py      # just the machine line
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import TextIO

#: A 1-minute load above this share of the usable CPUs means "busy": other
#: work competes with the benchmark and its figures are not the machine's best.
BUSY_SHARE = 0.5


def usable_cpus() -> int:
    """CPUs this process may run on (what ``nproc`` prints), not the host's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def python_speed_ms(rounds: int = 5) -> float:
    """Milliseconds (the best of ``rounds``) of a fixed pure-Python workload made
    of what this project's hot paths are made of: splitting text, dict and set
    updates, small tuples. Lower is faster; the best run is the machine's, the
    others are whatever else it was doing."""
    text = " ".join(f"w{i % 997}" for i in range(20_000))
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(5):
            counts: dict[str, int] = {}
            for word in text.split():
                counts[word] = counts.get(word, 0) + 1
            heads = {word[:3] for word in counts}
            pairs = [(word, n) for word, n in counts.items() if n > 1 and word[:3] in heads]
        best = min(best, time.perf_counter() - start)
    assert pairs  # the workload ran
    return best * 1000


def describe() -> list[str]:
    """The machine and its current load, as lines for a bench's output."""
    cpus = usable_cpus()
    total = os.cpu_count() or cpus
    mem = memory_gib()
    lines = [
        f"machine   {cpus} usable CPU{'s' if cpus != 1 else ''} (nproc; {total} on the host), "
        f"{cpu_model()}" + (f", {mem:.1f} GiB RAM" if mem is not None else ""),
        f"software  Python {platform.python_version()}, {platform.system()} {platform.release()}",
        f"speed     {python_speed_ms():.1f} ms for a fixed pure-Python workload "
        f"(bench/machine.py; lower is faster; compare it before comparing figures)",
    ]
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # not available on this platform
        lines.append("load      unknown")
        return lines
    busy = one > BUSY_SHARE * cpus
    lines.append(
        f"load      {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min averages) on {cpus} CPUs"
        + (
            f": BUSY, other work competes; expect slower figures than on a quiet machine"
            f" (load under {BUSY_SHARE * cpus:.1f})"
            if busy
            else ": quiet"
        )
    )
    return lines


def print_machine(file: TextIO | None = None) -> None:
    """Print ``describe()`` (to stdout unless ``file``), then a blank line; flushes."""
    out = file if file is not None else sys.stdout
    for line in describe():
        print(line, file=out)
    print(file=out, flush=True)


if __name__ == "__main__":
    print_machine()
