"""Bad inputs a new user would try: one ``error:`` line on stderr, non-zero exit, no traceback.

The cases are in ``benchmarks/bad_inputs.py``; ``benchmarks/faults.py`` runs them too and counts.
"""

from __future__ import annotations

import bad_inputs
import pytest


@pytest.fixture(scope="module")
def template(scratch):
    return bad_inputs.make_template(scratch / "inputs-template")


def test_there_are_at_least_100_cases():
    assert len(bad_inputs.CASES) >= 100
    assert len({c.name for c in bad_inputs.CASES}) == len(bad_inputs.CASES)


@pytest.mark.parametrize("case", bad_inputs.CASES, ids=[c.name for c in bad_inputs.CASES])
def test_bad_input_is_one_clean_line(case, template, scratch, runner):
    base = scratch / "inputs" / bad_inputs.CASES.index(case).__str__()
    outcome = bad_inputs.run_case(case, base, template, runner)
    assert outcome.clean, f"{case.name}: {outcome.why}\n{outcome.stderr[-3000:]}"


def test_the_judge_rejects_what_it_should():
    assert bad_inputs.judge(0, "", "error: x", None)[0] is False
    assert bad_inputs.judge(2, "", "Traceback (most recent call last):\nerror: x", None)[0] is False
    assert bad_inputs.judge(2, "", "error: a\nerror: b", None)[0] is False
    assert bad_inputs.judge(2, "", "error: a\nmore text", None)[0] is False
    assert bad_inputs.judge(2, "", "warning: w\nerror: a", 5)[0] is False
    assert bad_inputs.judge(5, "", "warning: w\nerror: a", 5)[0] is True
    # recovered from: exit 0 with a warning, never silently and never with an error line
    assert bad_inputs.judge(0, "", "warning: cache corrupt; refetching", 0)[0] is True
    assert bad_inputs.judge(0, "", "", 0)[0] is False
    assert bad_inputs.judge(2, "", "warning: w\nerror: a", 0)[0] is False
