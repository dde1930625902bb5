"""Triage: which disagreements are kink conventions or float32 effects, and which are bugs."""

from __future__ import annotations

from crosscheck.case import Case
from crosscheck.conventions import Convention
from crosscheck.draws import draw
from crosscheck.network import Network
from crosscheck.reference import recursive
from crosscheck.triage import explain


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


def test_float32_only_differences_are_rounding_on_cpu_and_bugs_otherwise():
    net = Network((3, 5, 2), ("tanh", "identity"))
    d = draw(net, 1, batch_size=4, draws=1, dtype="float32")
    conv = Convention()
    case = Case(net, conv, *d.one(0))
    case64 = case.astype("float64")
    expected = recursive.gradients(net, case64.params, case64.X, case64.Y)
    wrong32 = Network((3, 5, 2), ("tanh", "identity"), loss="sse")
    note = explain(_Fake(wrong32, float64_answer_with=net), case, case64, expected, on_kink=False)
    assert note["kind"] == "float32_rounding"
    assert explain(_Fake(wrong32), case, case64, expected, on_kink=False) is None
