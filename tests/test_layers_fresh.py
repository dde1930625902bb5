"""The layer diagnosis on the fresh set of issue 18 (tests/fresh/layers): each mistake caught and named
by its own id first or second, each correct file passing; the re-drawn case, batchnorm's test mode, and
sentences that are true to the arrays and options they describe."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from crosscheck.layers import check_layers
from crosscheck.layers.api import LAYERS
from crosscheck.layers.infer import explain
from crosscheck.layers.redraw import DISCRIMINATING
from crosscheck.layers.report import Part

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fresh", "layers"))
from manifest import CORRECT, FRESH, path  # noqa: E402

# one of each family, in the default run; the whole set behind the slow marker
# (relu_mask_from_dout and bn_test_batch_stats have tests of their own below)
QUICK = ("bn_alt_no_eps", "conv_dx_cropped_top_left", "pool_window_offset_missing", "svm_label_minus_one")


def _named(stem: str, examples: int = 15) -> list[str]:
    layer, dp, right = FRESH[stem]
    report = check_layers(path(stem), layers=layer, dropout_p=dp, examples=examples)
    verdict = report.layer(layer)
    assert verdict.verdict == "fail", report.summary()
    ids = [d["id"] for d in verdict.diagnosis]
    assert set(right) & set(ids[:2]), (ids, report.summary())
    return ids


@pytest.mark.parametrize("stem", QUICK)
def test_fresh_mistake_is_named_first_or_second(stem):
    _named(stem)


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(set(FRESH) - set(QUICK) - {"relu_mask_from_dout", "bn_test_batch_stats"}))
def test_every_fresh_mistake_is_named_first_or_second(stem):
    _named(stem, examples=30)


@pytest.mark.parametrize("stem", sorted(CORRECT))
def test_fresh_correct_files_pass(stem):
    report = check_layers(path(stem), dropout_p=CORRECT[stem], examples=10)
    assert report.exit_code == 0, report.summary()


def test_relu_mask_from_dout_is_told_from_no_mask_on_the_redrawn_case():
    # the minimal case (x 1 x 2, dout > 0) cannot tell the two apart; the re-drawn case can
    ids = _named("relu_mask_from_dout")
    assert ids[0] == "relu_mask_on_dout" and "relu_mask_missing" not in ids


def test_discriminating_cases_have_three_samples_and_distinct_dimensions():
    for name, dims in DISCRIMINATING.items():
        assert name in LAYERS
        n = dims.get("N", (dims.get("shape") or [0])[0])
        assert n >= 3, name
        sizes = [v for k, v in dims.items() if k in ("N", "C", "D", "F", "M", "G")]
        assert len(sizes) == len(set(sizes)), name


def test_batchnorm_test_mode_with_batch_statistics_fails(tmp_path):
    ids = _named("bn_test_batch_stats")
    assert ids[0] == "test_mode_batch_stats"


def test_dropout_message_says_the_option_that_was_passed_and_reruns_its_advice():
    # correct_graph reads p as the keep probability; checked under --dropout-p drop it fails
    report = check_layers(path("correct_graph"), layers="dropout", dropout_p="drop", examples=10)
    d = next(d for d in report.layer("dropout").diagnosis if d["id"] == "dropout_p_convention")
    assert "--dropout-p keep says" not in d["detail"]
    assert "--dropout-p drop (the option used)" in d["detail"]
    assert "re-run with --dropout-p keep: dropout passes" in d["detail"]
    again = check_layers(path("correct_graph"), layers="dropout", dropout_p="keep", examples=10)
    assert again.exit_code == 0


def test_dropout_advice_is_not_given_when_the_rerun_still_fails(tmp_path):
    src = open(path("correct_graph")).read().replace("return dout * mask\n", "return dout * mask * 2\n")
    f = tmp_path / "two_slips.py"
    f.write_text(src)
    report = check_layers(str(f), layers="dropout", dropout_p="drop", examples=10)
    text = " ".join(d["detail"] for d in report.layer("dropout").diagnosis if d["id"] == "dropout_p_convention")
    assert text, report.summary()  # the convention shows; the advice must say the re-run still fails
    assert "re-run with --dropout-p keep: dropout still fails" in text and "passes" not in text


# ---- sentences, without a sandbox ---------------------------------------------------------------------

def test_keepdims_gradient_with_right_values_is_named_as_such():
    e = np.arange(1.0, 5.0)
    d = explain("batchnorm", "dgamma", e.reshape(1, 4), e, {}, "shape", float("inf"), 1e-9)
    assert d["id"] == "keepdims_param_grad"
    assert "(1, 4)" in d["detail"] and "(4,)" in d["detail"]


def test_a_factor_per_feature_is_named_with_its_axis():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(3, 4))
    k = np.array([1.5, 2.0, 0.5, 3.0])
    d = explain("batchnorm", "dx", e * k, e, {}, "value", 0.5, 1e-9)
    assert d["id"] == "axis_factor" and "column" in d["detail"]


def test_svm_entries_departing_only_at_the_labels_name_the_correct_class_term():
    rng = np.random.default_rng(1)
    e, y = rng.normal(size=(3, 5)), np.array([0, 3, 2])
    g = e.copy()
    g[np.arange(3), y] += 0.7
    d = explain("svm_loss", "dx", g, e, {"x": e, "y": y}, "value", 0.3, 1e-9)
    assert d["id"] == "svm_label_term"


def test_an_all_zero_expected_array_gets_the_absolute_error():
    p = Part("dx", (2, 3), (2, 3), 6.7e153, 1e-9, False, "value", (0.25, 1e-300))
    text = p.describe()
    assert "absolute error 2.50e-01" in text and "relative" not in text
    d = explain("relu", "dx", np.full((2, 3), 0.1), np.zeros((2, 3)), {}, "value", 6.7e153, 1e-9)
    assert "e+153" not in d["detail"] and "absolute error" in d["detail"]


def test_no_shape_complaint_names_two_equal_shapes():
    p = Part("db", (2,), None, float("inf"), 1e-9, False, "shape")
    assert "nothing came back" in p.describe()
    d = explain("affine", "db", None, np.zeros(2), {}, "shape", float("inf"), 1e-9)
    assert "expected shape (2,)" in d["detail"]


def test_a_normalisation_dx_is_fitted_as_its_three_terms():
    from crosscheck.reference.layers import norm

    rng = np.random.default_rng(2)
    x, gamma, dout, eps = rng.normal(size=(4, 3)) * 2 + 1, rng.normal(size=3), rng.normal(size=(4, 3)), 0.1
    e = norm.normalize_vjp(dout * gamma, x, (0,), eps)
    no_mean = norm.normalize_vjp(dout * gamma, x, (0,), eps, mean_path=False)
    # the variance term doubled: 2 * e - no_var - ... built from the three terms
    xhat, std = norm.normalize(x, (0,), eps)
    var_term = -xhat * (dout * gamma * xhat).mean(axis=0) / std
    inputs = {"x": x, "gamma": gamma, "dout": dout, "eps": eps}
    d = explain("batchnorm", "dx", e + var_term, e, inputs, "value", 0.5, 1e-9)
    assert d["id"] == "norm_path_weights" and "(1, 1, 2)" in d["detail"], d
    d = explain("batchnorm", "dx", no_mean, e, inputs, "value", 0.5, 1e-9)
    assert d["id"] == "norm_path_weights" and "(1, 0, 1)" in d["detail"], d


def test_right_values_in_the_wrong_places_name_the_axis_order():
    rng = np.random.default_rng(3)
    e = rng.normal(size=(2, 3, 4, 5))
    g = e.transpose(0, 2, 3, 1).reshape(e.shape)
    d = explain("spatial_batchnorm", "dx", g, e, {}, "value", 1.0, 1e-9)
    assert d["id"] == "permuted" and "(0, 2, 3, 1)" in d["detail"], d
