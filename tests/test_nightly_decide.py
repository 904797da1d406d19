"""The promotion decision on plain score records: every branch of ``decide``, no model, no store."""

from __future__ import annotations

import math

import pytest

from forecaster.backtest.pooling import Scores
from forecaster.nightly.decide import (
    DIVERGED,
    MemberScores,
    Rule,
    best_baseline,
    decide,
    members_worse_than_baseline,
)
from forecaster.nightly.status import Status

INF = math.inf


def s(mae: float, rmse: float | None = None, smape: float = 10.0) -> Scores:
    return Scores(mae, mae * 1.5 if rmse is None else rmse, smape)


BASELINES = {"naive": s(1.0), "seasonal_naive": s(1.2), "drift": s(0.9)}  # best: drift 0.9
RULE = Rule(metric="mae", margin=0.02, require_beat_baseline=True)


def test_no_champion_promotes_a_finite_challenger_and_says_how_it_compares():
    good = decide(None, s(0.5), BASELINES, RULE)
    assert good.promote and good.status == Status.PROMOTED
    assert good.reason == "no champion yet" and good.history == "no usable champion"
    assert (good.best_baseline, good.best_baseline_error, good.beats_baseline) == (
        "drift",
        0.9,
        True,
    )

    poor = decide(None, s(2.0), BASELINES, RULE)
    assert poor.promote and not poor.beats_baseline
    assert poor.reason == (
        "no champion yet; the challenger does not beat the best baseline drift "
        "(mae 2 vs 0.9, margin 2%)"
    )


@pytest.mark.parametrize("champion", [None, s(1.0)])
def test_a_challenger_that_is_not_finite_is_never_promoted(champion):
    for chall in (s(INF), Scores(INF, INF, INF)):
        decision = decide(champion, chall, BASELINES, RULE)
        assert not decision.promote and decision.status == Status.KEPT
        assert decision.reason == "challenger produced non-finite forecasts; not promoted"


def test_diverged_in_training_is_a_kept_decision():
    assert not DIVERGED.promote and DIVERGED.status == Status.KEPT
    assert "non-finite validation error" in DIVERGED.reason


def test_a_challenger_worse_than_the_champion_is_kept():
    decision = decide(s(0.5), s(0.6), BASELINES, RULE)
    assert not decision.promote
    assert decision.reason == "challenger mae 0.6 does not beat champion 0.5 by margin 2%"


def test_a_challenger_better_only_within_the_margin_is_kept():
    decision = decide(s(0.5), s(0.495), BASELINES, RULE)  # 1% better, margin 2%
    assert not decision.promote and "does not beat champion 0.5 by margin 2%" in decision.reason
    assert decide(s(0.5), s(0.495), BASELINES, Rule(margin=0.0)).promote


def test_a_challenger_that_beats_champion_and_baseline_is_promoted():
    decision = decide(s(0.8), s(0.5), BASELINES, RULE)
    assert decision.promote and decision.history == "mae 0.5 < 0.8"
    assert decision.reason == (
        "challenger mae 0.5 beats champion 0.8 (margin 2%) and the best baseline drift "
        "(mae 0.5 vs 0.9, margin 2%)"
    )
    # without the baseline requirement the reason does not mention the baseline
    lax = decide(s(0.8), s(0.5), BASELINES, Rule(margin=0.02, require_beat_baseline=False))
    assert lax.promote and "baseline" not in lax.reason


def test_a_challenger_that_loses_to_the_best_baseline():
    # better than the champion, worse than drift
    required = decide(s(2.0), s(0.95), BASELINES, RULE)
    assert not required.promote and not required.beats_baseline
    assert required.reason == (
        "challenger does not beat the best baseline drift (mae 0.95 vs 0.9, margin 2%); "
        "not promoted"
    )
    lax = decide(s(2.0), s(0.95), BASELINES, Rule(margin=0.02, require_beat_baseline=False))
    assert lax.promote and lax.reason == "challenger mae 0.95 beats champion 2 (margin 2%)"
    # within the margin of the baseline is not beating it
    assert not decide(s(2.0), s(0.89), BASELINES, RULE).beats_baseline


def test_the_rule_metric_picks_the_error_compared():
    champion, challenger = Scores(1.0, 1.0, 5.0), Scores(2.0, 2.0, 4.0)  # worse mae, better smape
    by_smape = decide(champion, challenger, {"naive": Scores(3.0, 3.0, 9.0)}, Rule(metric="smape"))
    assert by_smape.promote and by_smape.history == "smape 4 < 5"
    assert not decide(champion, challenger, {"naive": Scores(3.0, 3.0, 9.0)}, Rule()).promote


def test_a_group_member_behind_its_own_best_baseline_keeps_the_champion():
    members = {
        "AAPL": MemberScores(s(1.0), {"naive": s(1.1), "drift": s(1.2)}),
        "MSFT": MemberScores(s(0.5), {"naive": s(0.45), "drift": s(0.47)}),  # behind naive
    }
    pooled = {"naive": s(1.0), "drift": s(1.05)}
    decision = decide(s(0.98), s(0.9), pooled, RULE, members=members)
    assert not decision.promote
    assert decision.reason == (
        "the challenger is worse than a member's own best baseline: MSFT mae 0.5 vs naive 0.45 "
        "(margin 2%)"
    )
    lax = Rule(margin=0.02, require_beat_baseline=False)
    promoted = decide(s(0.98), s(0.9), pooled, lax, members=members)
    assert promoted.promote and promoted.history == "mae/naive 0.9 < 0.98"  # pooled: relative


def test_best_baseline_ranks_non_finite_last_and_ties_in_order():
    assert best_baseline({"naive": s(INF), "drift": s(2.0)}, "mae") == ("drift", 2.0)
    assert best_baseline({"naive": s(1.0), "drift": s(1.0)}, "mae") == ("naive", 1.0)
    assert best_baseline({}, "mae") == (None, INF)
    # no baseline scored: nothing to beat, the comparison with the champion decides
    decision = decide(s(0.8), s(0.5), {}, RULE)
    assert decision.promote and decision.best_baseline is None
    assert decision.reason == "challenger mae 0.5 beats champion 0.8 (margin 2%)"


def test_members_within_the_margin_are_not_worse():
    members = {"X": MemberScores(s(1.019), {"naive": s(1.0)})}
    assert members_worse_than_baseline(members, "mae", 0.02) == ""
    assert members_worse_than_baseline(members, "mae", 0.01).startswith("X mae 1.019 vs naive 1")
    assert members_worse_than_baseline({}, "mae", 0.02) == ""


def test_scores_name_their_errors():
    assert s(2.0).error("rmse") == 3.0
    with pytest.raises(ValueError, match="unknown metric"):
        s(1.0).error("mape")  # type: ignore[arg-type]
    assert s(1.0).finite and not s(INF).finite
