"""The benchmarks' shared helpers: the machine line every bench prints first,
and the progress lines of the long ones."""

from __future__ import annotations

import io
import threading

import pytest

from bench import machine
from bench.progress import Progress, line


class Lines(io.StringIO):
    """An output that signals each complete line written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        if "\n" in text:
            self.event.set()
        return n

    def wait_line(self) -> None:
        assert self.event.wait(10), "no progress line within 10 s"
        self.event.clear()


def test_machine_line_names_cpus_and_load(monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = machine.usable_cpus()
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (cpus * 3.0, 1.5, 0.25))
    out = io.StringIO()
    machine.print_machine(out)
    text = out.getvalue()
    assert f"{cpus} usable CPU" in text
    assert f"load      {cpus * 3.0:.2f} 1.50 0.25 (1/5/15 min averages)" in text
    assert "BUSY" in text
    speed = float(text.split("speed     ", 1)[1].split(" ms for a fixed pure-Python workload")[0])
    assert 0 < speed < 60_000
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert "quiet" in "\n".join(machine.describe()) and "BUSY" not in "\n".join(machine.describe())


def test_progress_line_has_rate_and_eta() -> None:
    assert line(1500, 10_000, 20.0, "channels") == (
        "progress     1,500/10,000 channels   elapsed    20.0 s   rate     75.0/s   ETA 113 s"
    )
    assert line(0, 10, 1.0, "channels").endswith("ETA ?")


def test_progress_prints_each_step_and_the_final_tally() -> None:
    done = [0]
    out = Lines()
    with Progress(lambda: done[0], 5, every=2, unit="channels", poll_seconds=0.01, out=out) as p:
        done[0] = 3  # crosses 2
        out.wait_line()
        done[0] = 5  # crosses 4 and reaches the total
        out.wait_line()
    counts = [text.split()[1] for text in p.lines]
    assert counts == ["3/5", "5/5"]  # one line per step, the last not repeated
    assert all("ETA" in text for text in p.lines)
