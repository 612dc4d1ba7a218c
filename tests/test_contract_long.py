"""The long schemathesis run (``make faults``): more examples, and the stateful phase, which
creates generations and polls them by the ids the creates returned, for both 1080p + 8 s settings
and both models.
"""

from __future__ import annotations

import pytest
from contract import MODELS, SETTINGS, overlay_spec, run, simulator

pytestmark = pytest.mark.slow

LONG_EXAMPLES = 500
LONG_PHASES = ("examples", "coverage", "fuzzing", "stateful")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("combo_rules", SETTINGS.values(), ids=SETTINGS.keys())
def test_a_long_schemathesis_run_finds_nothing(tmp_path, capsys, combo_rules, model):
    with simulator(tmp_path, combo_rules=combo_rules) as sim:
        spec = overlay_spec(combo_rules=combo_rules, model=model)
        figures = run(spec, sim.url, sim.api_key, max_examples=LONG_EXAMPLES, phases=LONG_PHASES)
        stats = sim.stats()
    setting = "refused" if combo_rules else "accepted"
    figures.report(capsys, f"long run, {model}, 1080p + 8 s {setting}")
    assert figures.failures == [] and figures.errors == [], "\n".join(
        figures.failures + figures.errors
    )
    assert [figures.phases[name] for name in LONG_PHASES] == ["success"] * len(LONG_PHASES)
    assert stats["gets"] and any(job["status"] == "completed" for job in stats["jobs"])
