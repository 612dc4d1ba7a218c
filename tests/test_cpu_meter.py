"""``make test`` says what the run cost: every process counted where a cgroup can be made (a
process nobody waits for, as a Chromium renderer, too), else what ``/usr/bin/time`` counts."""

from __future__ import annotations

import subprocess
import sys
import time

import cpu_meter

BURN = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"


def test_a_process_nobody_waits_for_is_counted_where_a_cgroup_can_be_made():
    meter = cpu_meter.start()
    try:
        if meter.folder is None:  # the machine allows none: the line says what it counted
            words = meter.words(61.0)
            assert words.startswith("1:01 of wall time") and "no cgroup could be made" in words
            return
        before, waited = meter.seconds(), sum(cpu_meter._waited_for())
        # a grandchild that burns 0.5 s of CPU; its parent leaves at once, and nobody waits for it
        subprocess.run(
            ["sh", "-c", f'"{sys.executable}" -c "$0" & echo $!', BURN],
            check=True,
            capture_output=True,
            timeout=60,
        )
        end = time.monotonic() + 60
        while meter.seconds() - before < 0.45 and time.monotonic() < end:
            time.sleep(0.1)
        assert meter.seconds() - before >= 0.45, "the cgroup did not count the grandchild"
        assert sum(cpu_meter._waited_for()) - waited < 0.45  # what /usr/bin/time would miss
        assert "counted by a cgroup" in meter.words(5.0)
    finally:
        meter.close()
    assert meter.folder is None
