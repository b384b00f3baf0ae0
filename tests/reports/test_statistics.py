"""reports.statistics against scipy/statsmodels, and the statistics a report table carries,
reproduced from the shipped reference logs imported into a real MLflow store."""

from __future__ import annotations

import math

import pytest

from reports.statistics import (
    MAX_SEEDS,
    Comparison,
    compare_to_baseline,
    hedges_g,
    holm,
    pooled_std,
    seeds_needed,
    t_interval,
    welch_p,
)

REGSEG = [77.76, 78.85, 78.07]  # exp48_decoder26, 1000 epochs (REGSEG_FACTS.md)
DDRNET = [77.84, 78.07, 77.53]  # ddrnet23: best mIoU of the three runs in the shipped log


def test_t_interval_matches_the_textbook_formula():
    low, high = t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * math.sqrt(1.6666666666666667 / 4)  # t(0.975, 3) * s / sqrt(n)
    assert (low, high) == pytest.approx((2.5 - half, 2.5 + half))
    assert t_interval([5.0]) is None and t_interval([2.0, 2.0]) == (2.0, 2.0)


def test_holm_is_step_down_and_skips_missing_values():
    # sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone), in the input order
    assert holm([0.04, None, 0.01, 0.02]) == pytest.approx([0.04, None, 0.03, 0.04])
    assert holm([None]) == [None]


def test_hedges_g_is_cohens_d_with_the_small_sample_correction():
    a, b = [3.0, 4.0, 5.0], [1.0, 2.0, 3.0]
    d = 2.0 / pooled_std(a, b)
    assert pooled_std(a, b) == pytest.approx(1.0)
    g = hedges_g(a, b)
    assert 0.75 * d < g < d  # corrected towards zero, by about 3 / (4 (n_a + n_b) - 9)
    assert g == pytest.approx(d * (1 - 3 / (4 * 6 - 9)), rel=0.02)
    assert hedges_g([1.0], b) is None and hedges_g([1.0, 1.0], [1.0, 1.0]) is None


def test_seeds_needed_reaches_80_percent_power():
    from statsmodels.stats.power import TTestIndPower

    k = seeds_needed(REGSEG, DDRNET)
    d = (sum(REGSEG) - sum(DDRNET)) / 3 / pooled_std(REGSEG, DDRNET)
    power = TTestIndPower().power
    assert (power(effect_size=d, nobs1=k, alpha=0.05) >= 0.8
            > power(effect_size=d, nobs1=k - 1, alpha=0.05))
    assert seeds_needed([1.0, 2.0, 3.0], [10.0, 11.0, 12.0]) == 2  # already powered at n=2
    assert seeds_needed([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == MAX_SEEDS  # no difference at all
    assert seeds_needed([1.0], [1.0, 2.0]) is None


@pytest.mark.parametrize("comparison,verdict", [
    (Comparison(3, 3, 0.01, 0.02, 2.0, 4), "significant"),
    (Comparison(3, 3, 0.30, 0.30, 0.7, 19), "not significant at n=3 (about 19 seeds needed)"),
    (Comparison(2, 3, 0.30, 0.60, 0.7, 19), "not significant at n=2 vs 3 (about 19 seeds needed)"),
    (Comparison(3, 3, 0.9, 0.9, 0.0, MAX_SEEDS),
     f"not significant at n=3 (over {MAX_SEEDS} seeds needed)"),
    (Comparison(1, 3, None, None, None, None), "n=1: no test"),
    (Comparison(0, 3, None, None, None, None), "no test"),
    (Comparison(2, 2, None, None, None, None), "no test"),  # both constant: undefined
])
def test_verdicts_are_plain_words(comparison, verdict):
    assert comparison.verdict == verdict


def test_holm_runs_over_the_rows_of_one_table():
    base, close, far, single = [1.0, 2.0, 3.0], [1.5, 2.5, 3.5], [9.0, 10.0, 11.0], [5.0]
    out = compare_to_baseline([close, base, far, single], baseline=1)
    assert out[1] is None and out[3].verdict == "n=1: no test"
    raw = [welch_p(close, base), welch_p(far, base)]
    assert [out[0].p, out[2].p] == pytest.approx(raw)
    # k = 2, the single row is no test
    assert [out[0].p_holm, out[2].p_holm] == pytest.approx(holm(raw))


def _comparison_store(imported_store, store_uri):
    """The shipped DDRNet-23 log through import-logs, plus the three RegSeg runs of the same
    comparison (their log is not shipped; values from the reference's README) logged the way
    an import writes reference runs."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from reports.import_logs import import_logs

    from tests.reports.conftest import DDRNET as DDRNET_LOG

    import_logs([DDRNET_LOG], tracking_uri=store_uri)
    client = MlflowClient(tracking_uri=store_uri)
    exp_id = client.get_experiment_by_name("reference/ddrnet_comparison").experiment_id
    for i, value in enumerate(REGSEG):
        tags = {"regseg.source": "reference", "regseg.group": "ddrnet_comparison",
                "regseg.model": "exp48_decoder26", "regseg.reference_run": str(i + 1),
                "regseg.config_label": "model_name=exp48_decoder26", "regseg.seed": "0"}
        run_id = client.create_run(exp_id, tags=tags).info.run_id
        client.log_batch(run_id, metrics=[Metric("best_mIoU", value, 0, 999)])
        client.set_terminated(run_id, "FINISHED")
    return store_uri


def test_regseg_vs_ddrnet23_is_not_significant_at_n3(imported_store, store_uri):
    from reports.report import build_report

    uri = _comparison_store(imported_store, store_uri)
    rep = build_report(tracking_uri=uri)
    rows = {r["key"]: r for r in rep.rows if r["group"] == "ddrnet_comparison"}
    regseg, ddrnet = rows["exp48_decoder26"], rows["ddrnet23"]
    assert (round(regseg["mean"], 2), round(regseg["std"], 2), regseg["n"]) == (78.23, 0.56, 3)
    assert (round(ddrnet["mean"], 2), round(ddrnet["std"], 2), ddrnet["n"]) == (77.81, 0.27, 3)
    assert ddrnet["baseline"] and round(regseg["p_value"], 3) == 0.337
    assert regseg["p_holm"] == pytest.approx(regseg["p_value"])  # one comparison in the table
    assert regseg["verdict"] == ("not significant at n=3 "
                                 f"(about {regseg['seeds_needed']} seeds needed)")
    assert 10 < regseg["seeds_needed"] < 40 and 0.5 < regseg["hedges_g"] < 1.0
    assert regseg["ci_low"] < 77.81 < regseg["ci_high"]
    md = rep.markdown
    assert "not significant at n=3" in md and "Holm-adjusted over the 1 comparison" in md
    assert "| p (Welch)" in md and "| p (Holm, k=1)" in md and "0.337" in md


def test_single_runs_say_no_test(imported_store):
    from reports.report import build_report

    rep = build_report(tracking_uri=imported_store[0])
    decoder = next(r for r in rep.rows if r["group"] == "decoder")
    assert decoder["n"] == 1 and decoder["verdict"] == "baseline"
    table = next(t for t in rep.tables if t.group == "decoder")
    assert table.headers[-1] == "paper mIoU^R" and "verdict" in table.headers
