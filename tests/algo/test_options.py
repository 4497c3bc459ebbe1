"""Typed estimator options: specs kept with the registry, one check for the API and the CLI alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hgpo_algo import compute_advantages, defaults
from hgpo_algo.estimators import (
    ESTIMATORS,
    EstimatorOutput,
    check_options,
    estimator_options,
    option_specs,
    register_estimator,
)
from hgpo_algo.options import COMMON_OPTIONS, OptionSpec
from tests.algo.vectors import TV1_RECORDS


def test_defaults_are_read_from_defaults_module():
    hgpo = estimator_options("hgpo")
    assert hgpo == {
        "K": defaults.HISTORY_LEVELS, "alpha": defaults.ALPHA, "weight_offset": defaults.WEIGHT_OFFSET,
        "mode": defaults.NORM_MODE, "base_group": False, "episode_stats": defaults.EPISODE_STATS,
        "context": defaults.CONTEXT,
    }
    assert estimator_options("gigpo")["omega"] == defaults.OMEGA
    assert COMMON_OPTIONS["gamma"].default == defaults.GAMMA
    assert COMMON_OPTIONS["invalid_penalty"].default == defaults.INVALID_PENALTY


def test_every_registered_estimator_has_a_spec_per_option():
    for name in ESTIMATORS:
        specs = option_specs(name)
        assert set(specs) == set(estimator_options(name))
        for spec in specs.values():
            assert isinstance(spec, OptionSpec) and spec.help


def test_check_options_fills_defaults_and_coerces():
    out = check_options("hgpo", {"K": np.int64(3), "alpha": 1, "base_group": np.bool_(True)})
    assert out["K"] == 3 and type(out["K"]) is int
    assert out["alpha"] == 1.0 and type(out["alpha"]) is float
    assert out["base_group"] is True
    assert out["weight_offset"] == defaults.WEIGHT_OFFSET
    assert check_options("hgpo", {"K": 2.0})["K"] == 2


@pytest.mark.parametrize(
    ("estimator", "options", "message"),
    [
        ("hgpo", {"alpha": math.inf}, "hgpo option 'alpha' must be a finite number in [-100, 100], got inf"),
        ("hgpo", {"alpha": math.nan}, "hgpo option 'alpha' must be a finite number in [-100, 100], got nan"),
        ("hgpo", {"weight_offset": math.nan}, "hgpo option 'weight_offset' must be a finite number in (0, 1000000]"),
        ("hgpo", {"weight_offset": -2}, "option 'weight_offset' must be a finite number in (0, 1000000], got -2"),
        ("hgpo", {"weight_offset": 0}, "got 0"),
        ("hgpo", {"K": 10**20}, "hgpo option 'K' must be an integer in [0, 1024], got 100000000000000000000"),
        ("hgpo", {"K": 1.5}, "hgpo option 'K' must be an integer"),
        ("hgpo", {"K": True}, "hgpo option 'K' must be an integer in [0, 1024], got True"),
        ("hgpo", {"K": "2"}, "got '2'"),
        ("hgpo", {"base_group": 1}, "hgpo option 'base_group' must be true or false, got 1"),
        ("hgpo", {"mode": "z"}, "hgpo option 'mode' must be one of mean_std_norm, mean_norm, got 'z'"),
        ("gigpo", {"omega": -1.0}, "gigpo option 'omega' must be a finite number >= 0, got -1.0"),
        ("gigpo", {"omega": math.inf}, "gigpo option 'omega' must be a finite number >= 0, got inf"),
        ("grpo", {"episode_stats": None}, "grpo option 'episode_stats' must be one of cross_steps, per_trajectory"),
        ("grpo", {"K": 2}, "unknown option(s) 'K' for estimator 'grpo'"),
    ],
)
def test_bad_options_named_in_api(estimator, options, message):
    with pytest.raises(ValueError) as info:
        check_options(estimator, options)
    assert message in str(info.value)
    with pytest.raises(ValueError) as info:
        compute_advantages(TV1_RECORDS, estimator, **options)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": 1e308}, "option 'gamma' must be a finite number in [0, 1], got 1e+308"),
        ({"gamma": -0.1}, "option 'gamma' must be a finite number in [0, 1]"),
        ({"invalid_penalty": math.nan}, "option 'invalid_penalty' must be a finite number >= 0, got nan"),
        ({"report_levels": -1}, "option 'report_levels' must be an integer in [0, 1024]"),
    ],
)
def test_shared_options_validated(kwargs, message):
    with pytest.raises(ValueError) as info:
        compute_advantages(TV1_RECORDS, "hgpo", **kwargs)
    assert message in str(info.value)


def test_level_weights_that_overflow_are_refused():
    with pytest.raises(ValueError, match="level weight"):
        compute_advantages(TV1_RECORDS, "hgpo", weight_offset=1e6, alpha=-100.0)


@given(
    alpha=st.floats(-100, 100),
    offset=st.floats(1e-3, 1e3),
)
def test_valid_weights_give_finite_advantages(alpha, offset):
    try:
        adv = compute_advantages(TV1_RECORDS, "hgpo", alpha=alpha, weight_offset=offset).advantages
    except ValueError as exc:  # only the documented refusal of weights that leave float64
        assert "level weight" in str(exc)
        return
    assert np.isfinite(adv).all()


def test_huge_rewards_are_named_instead_of_null_advantages():
    rows = [dict(r) for r in TV1_RECORDS]
    rows[3]["reward"] = 1e308
    rows[12]["reward"] = 1e308
    with pytest.raises(ValueError, match=r"record 3: field 'reward' \(1e\+308\) is too large"):
        compute_advantages(rows, "gigpo")


def test_spec_parse_matches_check():
    spec = option_specs("hgpo")["alpha"]
    assert spec.parse("0.5", "--alpha") == 0.5
    for text in ("inf", "nan", "-inf", "1e400", "x", ""):
        with pytest.raises(ValueError, match="--alpha must be a finite number"):
            spec.parse(text, "--alpha")
    assert option_specs("hgpo")["K"].parse(" 3 ", "--K") == 3
    with pytest.raises(ValueError, match="--K must be an integer in"):
        option_specs("hgpo")["K"].parse("3.0", "--K")
    assert option_specs("hgpo")["base_group"].parse("true", "--base-group") is True


def test_registering_checks_specs_against_the_signature():
    with pytest.raises(ValueError, match="do not match its keyword-only parameters"):

        @register_estimator("bad-spec", {"beta": OptionSpec(float, 1.0, "x")})
        def bad(inputs, *, gamma2: float = 1.0) -> EstimatorOutput:  # pragma: no cover
            raise AssertionError

    with pytest.raises(ValueError, match="defaults differ"):

        @register_estimator("bad-default", {"beta": OptionSpec(float, 1.0, "x")})
        def bad2(inputs, *, beta: float = 2.0) -> EstimatorOutput:  # pragma: no cover
            raise AssertionError

    assert "bad-spec" not in ESTIMATORS and "bad-default" not in ESTIMATORS


def test_option_spec_refuses_a_bad_default():
    with pytest.raises(ValueError, match="the default must be an integer in"):
        OptionSpec(int, -1, "x", minimum=0, maximum=3)


def test_an_estimator_returning_nan_is_refused():
    @register_estimator("nan-estimator")
    def nan_estimator(inputs, *, scale: float = 1.0) -> EstimatorOutput:
        return EstimatorOutput(np.full(inputs.batch.n, np.nan))

    try:
        assert option_specs("nan-estimator")["scale"].kind is float  # spec derived from the signature
        with pytest.raises(ValueError, match="'nan-estimator' returned advantages that are not 17 finite numbers"):
            compute_advantages(TV1_RECORDS, "nan-estimator")
    finally:
        from hgpo_algo.estimators import _OPTION_SPECS

        del ESTIMATORS["nan-estimator"], _OPTION_SPECS["nan-estimator"]
