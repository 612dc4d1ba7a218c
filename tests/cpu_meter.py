"""What a test run cost in CPU-seconds, every process of it counted where the machine allows.

``resource.getrusage(RUSAGE_CHILDREN)`` (what ``/usr/bin/time`` reports) counts only processes
that were waited for: a Chromium renderer its zygote starts, or a Jupyter kernel nobody waits
for, is missed. A cgroup counts every process in it, and every process started in it stays in
it. :func:`start` makes a cgroup of its own under this process's (cgroup v2's ``cpu.stat``, or
v1's ``cpuacct``) and moves this process in, so that everything the run starts from then on is
counted; where no cgroup can be made (not root, ``/sys/fs/cgroup`` read-only, as in many
containers) it counts what ``getrusage`` counts, and says so.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _waited_for() -> tuple[float, float]:
    """User and system CPU-seconds of this process and the children it waited for."""
    mine, theirs = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return mine.ru_utime + theirs.ru_utime, mine.ru_stime + theirs.ru_stime


def _mounts() -> dict[str, Path]:
    """Where the cgroup hierarchies are mounted: ``"2"`` for v2, ``"cpuacct"`` for v1's."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, kind = before.split(), after.split()
        if len(fields) < 5 or len(kind) < 3:
            continue
        if kind[0] == "cgroup2":
            found.setdefault("2", Path(fields[4]))
        elif kind[0] == "cgroup" and "cpuacct" in kind[2].split(","):
            found.setdefault("cpuacct", Path(fields[4]))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup in each hierarchy (``"2"``, ``"cpuacct"``), from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if number == "0" and controllers == "":
            paths["2"] = path
        elif "cpuacct" in controllers.split(","):
            paths["cpuacct"] = path
    return paths


@dataclass
class Meter:
    """The run's cgroup (None: counting what getrusage counts) and this process's CPU before it
    moved in."""

    folder: Path | None
    kind: str
    before: float

    def seconds(self) -> float | None:
        """CPU-seconds of every process in the cgroup so far, and this one's before it moved in;
        None without a cgroup."""
        if self.folder is None:
            return None
        try:
            if self.kind == "2":
                stat = (self.folder / "cpu.stat").read_text().split()
                return int(stat[stat.index("usage_usec") + 1]) / 1e6 + self.before
            return int((self.folder / "cpuacct.usage").read_text()) / 1e9 + self.before
        except (OSError, ValueError):
            return None

    def words(self, wall: float) -> str:
        """The run's wall time and CPU-seconds, and what was counted."""
        minutes, seconds = divmod(round(wall), 60)
        user, system = _waited_for()
        counted = self.seconds()
        waited = f"user {user:.0f} + system {system:.0f}"
        if counted is None:
            return (
                f"{minutes}:{seconds:02d} of wall time, {user + system:.0f} CPU-seconds ({waited}"
                ": the processes waited for, as /usr/bin/time counts them; no cgroup could be "
                "made here to count the others, such as Chromium's renderers)"
            )
        version = "v2" if self.kind == "2" else "v1 cpuacct"
        return (
            f"{minutes}:{seconds:02d} of wall time, {counted:.0f} CPU-seconds (every process of "
            f"the run, counted by a cgroup {version}; the processes waited for, as /usr/bin/time "
            f"counts them: {user + system:.0f}, {waited})"
        )

    def close(self) -> None:
        """Move this process, and whatever the run left in the cgroup, back; remove it."""
        if self.folder is None:
            return
        parent = self.folder.parent
        try:
            for pid in (self.folder / "cgroup.procs").read_text().split():
                (parent / "cgroup.procs").write_text(pid)
            self.folder.rmdir()
        except OSError:
            pass  # a process that ends meanwhile, or one that cannot move: the cgroup stays
        self.folder = None


def start() -> Meter:
    """Count from now on: this process moves into a new cgroup, where its children start too."""
    mounts, paths = _mounts(), _own_paths()
    for kind in ("2", "cpuacct"):
        if kind not in mounts or kind not in paths:
            continue
        folder = mounts[kind] / paths[kind].lstrip("/") / f"pixverse-ui-tests-{os.getpid()}"
        try:
            folder.mkdir()
        except OSError:
            continue
        try:
            before = _own_cpu()
            (folder / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            folder.rmdir()
            continue
        meter = Meter(folder, kind, before)
        if meter.seconds() is not None:
            return meter
        meter.close()
    return Meter(None, "", 0.0)
