"""Triage: which disagreements are kink conventions or float32 effects, and which are bugs."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck.compare import compare_gradients
from crosscheck.draws import draw
from crosscheck.model.case import Case
from crosscheck.model.conventions import Convention
from crosscheck.model.network import Network
from crosscheck.reference import recursive
from crosscheck.sweep.triage import explain, float32_context


class _Fake:
    """A backend that answers with the reference of another network (another convention)."""

    name = "fake"

    def __init__(self, answer_with: Network, *, float64_answer_with: Network | None = None):
        self.answer_with, self.float64_answer_with = answer_with, float64_answer_with or answer_with

    def gradients(self, case: Case):
        net = self.answer_with if str(case.dtype) == "float32" else self.float64_answer_with
        return recursive.gradients(net, case.params, case.X, case.Y)

    def settings(self) -> dict:
        return {"tf32_like": False}


def _kinked_case(net: Network) -> tuple[Case, Case]:
    d = draw(net, 3, batch_size=4, draws=8, kinks=True)
    i = int(d.on_kink.argmax())
    assert d.on_kink[i]
    conv = Convention("columns", "out_in", "vector", "pairs")
    return Case(net, conv, *d.one(i)), Case(net, conv, *d.one(i))


def test_a_kink_only_difference_names_both_conventions_per_activation():
    net = Network((3, 5, 2), ("leaky_relu", "identity"))
    case, case64 = _kinked_case(net)
    expected = recursive.gradients(net, case64.params, case64.X, case64.Y)
    jax_like = Network((3, 5, 2), ("leaky_relu:1", "identity"))
    note = explain(_Fake(jax_like), case, case64, expected, on_kink=True)
    assert note["kind"] == "kink_convention"
    assert note["detail"] == ("differs only at a kink: the reference uses leaky_relu'(0) = 0.01; "
                              "fake uses leaky_relu'(0) = 1 (the convention of jax.nn.leaky_relu(x))")
    assert explain(_Fake(jax_like), case, case64, expected, on_kink=True, strict_kinks=True) is None


def test_a_real_difference_is_not_explained():
    net = Network((3, 5, 2), ("relu", "identity"))
    case, case64 = _kinked_case(net)
    expected = recursive.gradients(net, case64.params, case64.X, case64.Y)
    wrong = Network((3, 5, 2), ("relu", "identity"), loss="sse")  # twice the gradient everywhere
    assert explain(_Fake(wrong), case, case64, expected, on_kink=True) is None


def _float32_case(net: Network, seed: int = 1) -> tuple[Case, Case, tuple]:
    d = draw(net, seed, batch_size=4, draws=1, dtype="float32")
    case = Case(net, Convention(), *d.one(0))
    case64 = case.astype("float64")
    return case, case64, recursive.gradients(net, case64.params, case64.X, case64.Y)


def test_a_float32_only_difference_is_a_failure_even_when_float64_agrees():
    net = Network((3, 5, 2), ("tanh", "identity"))
    case, case64, expected = _float32_case(net)
    wrong32 = Network((3, 5, 2), ("tanh", "identity"), loss="sse")  # 2x, in float32 only
    assert explain(_Fake(wrong32, float64_answer_with=net), case, case64, expected, on_kink=False) is None
    assert explain(_Fake(wrong32), case, case64, expected, on_kink=False) is None
    context = float32_context(_Fake(wrong32, float64_answer_with=net), expected,
                              lambda: recursive.gradients(net, case64.params, case64.X, case64.Y))
    assert context.startswith("fake agrees in float64: a float32-only difference")
    assert float32_context(_Fake(wrong32), expected,
                           lambda: recursive.gradients(wrong32, case64.params, case64.X, case64.Y)) \
        == "fake disagrees in float64 too"


class _Scaled:
    """A float32 backend answering with the float32 reference times ``factor``."""

    name = "scaled"

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def gradients(self, case: Case):
        g = recursive.gradients(case.network, case.params, case.X, case.Y)
        return tuple((W * self.factor, None if b is None else b * self.factor) for W, b in g)


def _saturated_case() -> tuple[Case, Case, tuple]:
    """One tanh output neuron at z ~ 5.6, where tanh' = 1 - y^2 ~ 1e-4 is a difference of O(1)
    float32 numbers: the float32 reference itself is off by ~1e-3 relative."""
    net = Network((1, 1), ("tanh",), loss="output")
    params = ((np.array([[5.6]], np.float32), np.array([0.0], np.float32)),)
    X = np.array([[1.0, 1.01, 0.99]], np.float32)
    case = Case(net, Convention(), params, X, None)
    case64 = case.astype("float64")
    return case, case64, recursive.gradients(net, case64.params, case64.X, case64.Y)


def test_float32_rounding_is_excused_only_within_the_references_own():
    case, case64, expected = _saturated_case()
    e_ref = compare_gradients(expected, recursive.gradients(case.network, case.params, case.X, case.Y),
                              dtype="float32").worst_rel_error
    assert 2e-4 < e_ref < 1e-2  # float32 itself goes wrong here
    note = explain(_Scaled(1.0), case, case64, expected, on_kink=False)  # a correct float32 computation
    assert note["kind"] == "float32_rounding"
    assert note["reference_error"] == pytest.approx(e_ref)
    assert note["bound"] == pytest.approx(2e-4 + 10 * e_ref)
    assert note["size"] > 2e-4 and note["network"] == "1-1 tanh output/sum"
    # a sign flip is never rounding, and nor is an error 10x past the reference's own
    assert explain(_Scaled(-1.0), case, case64, expected, on_kink=False) is None
    assert explain(_Scaled(1 + 2e-4 + 20 * e_ref), case, case64, expected, on_kink=False) is None
