"""Claim statistics: paired tests by seed, Holm adjustment, verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lstmlab.sweeps.claims import CLAIMS, Claim, Comparison, holm, judge, paired


def _values(means: dict[str, float], seeds: int = 10, noise: float = 0.01, shared: float = 0.2):
    """Loss AUCs per configuration and seed: a per-seed effect shared by all configurations (the
    same sequences) plus a little noise of each run's own."""
    rng = np.random.default_rng(0)
    seed_effect = shared * rng.standard_normal(seeds)
    return {
        label: {s: mean + seed_effect[s] + noise * rng.standard_normal() for s in range(seeds)}
        for label, mean in means.items()
    }


def test_holm_matches_the_textbook_procedure():
    # Sorted p: 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06, 0.06 (monotone).
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_pairing_by_seed_sees_a_small_difference_under_a_large_seed_effect():
    values = _values({"a": 0.30, "b": 0.32})
    t = paired(values, Comparison("a", "b"))
    assert t.seeds == 10 and t.mean_diff == pytest.approx(0.02, abs=0.01)
    assert t.p < 0.01 and t.ci[0] > 0
    # Unpaired, the seed-to-seed spread would hide it.
    unpaired = stats.ttest_ind(list(values["b"].values()), list(values["a"].values())).pvalue
    assert unpaired > 0.05


def test_verdicts():
    claim = Claim("a is fastest", (Comparison("a", "b"), Comparison("a", "c")))
    assert judge(claim, _values({"a": 0.2, "b": 0.3, "c": 0.35})).verdict == "holds"
    assert judge(claim, _values({"a": 0.3, "b": 0.2, "c": 0.35})).verdict == "does not hold"
    unresolved = judge(claim, _values({"a": 0.3, "b": 0.3, "c": 0.3}, noise=0.05))
    assert unresolved.verdict == "not resolved at 10 seeds"
    differ = Claim("they differ", differ=("a", "b", "c"))
    assert judge(differ, _values({"a": 0.2, "b": 0.3, "c": 0.35})).verdict == "holds"
    assert judge(differ, _values({"a": 0.3, "b": 0.3, "c": 0.3}, noise=0.05)).friedman_p > 0.05


def test_the_presets_claims_name_configurations_their_sweeps_produce():
    labels = {
        "claim_directions": {f"model={m}" for m in
                             ("lstm", "lstm_backward", "lstm_backward_tutorial", "bilstm")},
        "claim_merge_modes": {f"merge_mode={m}" for m in ("concat", "sum", "mul", "ave")},
    }  # fmt: skip
    from omegaconf import OmegaConf

    from lstmlab.config import CONF_DIR

    for preset in ("archive_benchmark", "claim_lstm_fcn"):
        swept = OmegaConf.load(CONF_DIR / "experiment" / f"{preset}.yaml").hydra.sweeper.params
        labels[preset] = {f"model={m}" for m in swept.model.split(",")}
        assert (CONF_DIR / "model" / "lstm_fcn_unshuffled.yaml").is_file()
    for preset, claims in CLAIMS.items():
        for claim in claims:
            named = {x for c in claim.comparisons for x in (c.better, c.worse)} | set(claim.differ)
            assert named <= labels[preset], (preset, claim.text)


def test_a_metric_claim_pairs_runs_by_set_and_seed():
    """test_acc, higher is better, over two sets: the pairs are (set, seed)."""
    from lstmlab.sweeps.groups import Group, RunRecord
    from lstmlab.sweeps.report import claim_values

    rng = np.random.default_rng(1)
    groups = []
    for name, base in (("GunPoint", 0.9), ("ItalyPowerDemand", 0.6)):
        for model, gain in (("fcn", 0.0), ("lstm_fcn", 0.03)):
            g = Group(f"dataset.name={name} model={model}")
            for seed in range(4):
                acc = base + gain + 0.002 * rng.standard_normal()
                g.runs.append(RunRecord(f"{name}{model}{seed}", "", "FINISHED", {"seed": str(seed)},
                                        {"test_acc": acc}, np.ones(3)))  # fmt: skip
            groups.append(g)
    claim = Claim("lstm_fcn beats fcn", (Comparison("model=lstm_fcn", "model=fcn"),),
                  metric="test_acc", higher=True)  # fmt: skip
    values = claim_values(claim, groups)
    assert set(values["model=fcn"]) == {(f"dataset.name={n}", s) for n in ("GunPoint",
                                        "ItalyPowerDemand") for s in range(4)}  # fmt: skip
    verdict = judge(claim, values)
    (t,) = verdict.tested
    # Paired, the sets' 0.3 gap cancels: the 0.03 gain shows.
    assert t.seeds == 8 and t.mean_diff == pytest.approx(0.03, abs=0.005)
    assert verdict.verdict == "holds"
    against = Claim("fcn beats lstm_fcn", (Comparison("model=fcn", "model=lstm_fcn"),),
                    metric="test_acc", higher=True)  # fmt: skip
    assert judge(against, claim_values(against, groups)).verdict == "does not hold"


def test_a_sweep_over_part_of_a_claim_is_judged_on_the_comparisons_it_has():
    """claim_lstm_fcn without its lstm_fcn_unshuffled runs: the lstm_fcn > fcn comparison is
    tested and the verdict says what was left out; with no comparison left, nothing is judged."""
    from lstmlab.sweeps.groups import Group, RunRecord
    from lstmlab.sweeps.report import judge_claims

    rng = np.random.default_rng(2)
    groups = []
    for model, gain in (("fcn", 0.0), ("lstm_fcn", 0.05)):
        g = Group(f"dataset.name=GunPoint model={model}")
        for seed in range(5):
            acc = 0.9 + gain + 0.002 * rng.standard_normal()
            g.runs.append(RunRecord(f"{model}{seed}", "", "FINISHED", {"seed": str(seed)},
                                    {"test_acc": acc}, np.ones(3)))  # fmt: skip
        groups.append(g)
    text = judge_claims("claim_lstm_fcn", groups)
    assert "model=lstm_fcn > model=fcn" in text and "lstm_fcn_unshuffled > " not in text
    assert "verdict: holds" in text
    assert "not tested: no runs of model=lstm_fcn_unshuffled: the verdict is on the" in text
    only_fcn = judge_claims("claim_lstm_fcn", groups[:1])
    assert "verdict" not in only_fcn.split("Loss AUC")[0]
    assert "not tested: no runs of model=lstm_fcn, model=lstm_fcn_unshuffled" in only_fcn
