"""``--estimate`` for multi-source (domain-generalization) suites: a step draws one mini-batch per
source domain, so a D-source cell costs D times a one-source cell's step at the same batch size; the
calibration measures every set of domains of a leave-one-domain-out suite and keeps the suite's
in-run selection and checkpoints. Structure only (planted step times), no timings of this machine."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.plan.cells import expand
from bench.plan.suite import Suite
from bench.results import read_results
from bench.run.estimate import calibration_suite, estimate, measured_step_times
from tests.sweep_helpers import tiny_suite
from tests.test_estimate import CAL_BATCH, T_FIXED, T_STEP, plant

pytestmark = pytest.mark.numeric

MOONS = ["moons", "moons-rot/30", "moons-rot/60", "moons-rot/90"]


def dg_suite(pairs, **kw):
    raw = {**tiny_suite(["erm"], budgets=[0], adapt_steps=100, batch_size=CAL_BATCH), "pairs": pairs,
           "backbones": ["small_cnn"], "protocol": "joint", **kw}
    return Suite.model_validate(raw)


def test_a_step_costs_in_proportion_to_the_number_of_source_domains(tmp_path):
    plant(tmp_path, strategy="erm")  # one source domain (digits -> digits), batch CAL_BATCH
    times = measured_step_times(read_results(tmp_path))
    one = estimate(expand(dg_suite(["digits -> digits"])), times).set_index("strategy").loc["erm"]
    three = estimate(expand(dg_suite(["moons, moons-rot/30, moons-rot/60 -> moons-rot/90"])),
                     times).set_index("strategy").loc["erm"]
    assert math.isclose(one.seconds - T_FIXED, 100 * T_STEP, rel_tol=1e-9)
    assert math.isclose(three.seconds - T_FIXED, 3 * (one.seconds - T_FIXED), rel_tol=1e-9)


def test_times_measured_on_several_sources_are_per_step_of_all_of_them(tmp_path):
    plant(tmp_path, strategy="erm")
    times = measured_step_times(read_results(tmp_path))
    assert (times["batch"] == CAL_BATCH).all() and (times["domains"] == "").all()
    # a calibration of a 3-source cell: its step drew 3 x batch, so a 1-source cell costs a third
    three = times.assign(batch=3 * CAL_BATCH, domains=", ".join(sorted(MOONS)))
    one = estimate(expand(dg_suite(["digits -> digits"])), three).set_index("strategy").loc["erm"]
    assert math.isclose(one.seconds - T_FIXED, 100 * T_STEP / 3, rel_tol=1e-9)


def test_each_domain_set_uses_its_own_measured_times(tmp_path):
    plant(tmp_path, strategy="erm")
    base = measured_step_times(read_results(tmp_path))
    moons = ", ".join(sorted(MOONS))
    times = pd.concat([base.assign(domains=moons, t_fixed=10 * T_FIXED), base], ignore_index=True)
    loo = estimate(expand(dg_suite([{"leave_one_out": MOONS}])), times).set_index("strategy").loc["erm"]
    assert loo.cells == 4 and math.isclose(loo.seconds, 4 * (3 * 100 * T_STEP + 10 * T_FIXED), rel_tol=1e-9)


def test_calibration_measures_every_domain_set_with_the_suites_selection_and_checkpoints():
    suite = dg_suite([{"leave_one_out": MOONS}, {"leave_one_out": MOONS[:3]}, "digits -> synth-digits"],
                     selection="source_val", checkpoints=20)
    cal = calibration_suite(suite, steps=7)
    cells = expand(cal)
    # the first pair of each set of domains; single-source pairs after the first share its times
    assert [(c.source_domain, c.target_domain) for c in cells] == [
        ("moons-rot/30+moons-rot/60+moons-rot/90", "moons"), ("moons-rot/30+moons-rot/60", "moons")]
    assert all(c.selection == "source_val" and c.checkpoints == 20 for c in cells)
    assert all(c.adapt.steps == 20 for c in cells)  # at least one step per checkpoint
