"""A fresh set of student implementations (``tests/students``): ground truth, then the confusion table.

1. Ground truth, in process: every correct student agrees with torch.autograd in float64 on
   distinct and coincident dimensions, and every mistake really is one (it differs from
   torch.autograd where it says it shows, mutates its inputs, changes between calls or
   returns a lower precision). The torch side is written here, from torch's own primitives.
2. The check, through the sandbox as users run it: each correct student passes, each mistake
   fails with exit 1, and at least 90% are named right first or second. The table of expected
   against given ids is ``tests/students/CONFUSION.md``; this test regenerates it and compares
   (``CROSSCHECK_WRITE_CONFUSION=1`` rewrites it).
"""

from __future__ import annotations

import copy
import inspect
import os
from collections import Counter
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
from students import STUDENTS, Student

from crosscheck.check.extras import split_extras
from crosscheck.check.job import DEFAULTS, run_check
from crosscheck.diagnosis.diagnose import user_arrays
from crosscheck.draws import draw
from crosscheck.model.case import Case
from crosscheck.model.network import Network
from crosscheck.model.presets import resolve_options

torch = pytest.importorskip("torch")

CONFUSION = Path(__file__).parent / "students" / "CONFUSION.md"
EXAMPLES = 30


def _load(target: str):
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)


def _network(student: Student, widths: tuple[int, ...]) -> Network:
    o = resolve_options(**student.options)
    pick = lambda name: getattr(o, name) or DEFAULTS[name]  # noqa: E731
    loss = pick("loss")
    if loss == "output":
        widths = widths[:-1] + (1,)
    k = len(widths) - 1
    extra = {f: getattr(o, f) for f in ("targets", "l2", "l1", "penalty_form", "penalty_bias")
             if getattr(o, f, None) is not None}
    return Network(widths, (pick("hidden"),) * (k - 1) + (pick("output"),), loss=loss, reduction=pick("reduction"),
                   bias=o.convention().has_bias, **extra)


def _case(student: Student, kind: str, seed: int = 3) -> Case:
    conv = resolve_options(**student.options).convention()
    widths = {"square": (4, 4, 4, 4), "m_width": (4, 5, 6, 3)}.get(kind, (4, 5, 6, 3))
    m = 1 if conv.batch == "single" else (5 if kind == "m_width" else 7)
    net = _network(student, widths)
    params, X, Y = draw(net, seed, batch_size=m, kinks=kind == "kink").one(0)
    return Case(net, conv, params, X, Y)


def _call(student: Student, case: Case):
    fn = _load(student.target)
    params, X, Y = case.user_inputs()
    if "spec" in inspect.signature(fn).parameters:
        return fn(params, X, Y, spec={"network": case.network.to_dict(), "convention": case.convention.to_dict()})
    return fn(params, X, Y)


_TORCH_ACT = {
    "identity": lambda z: z, "tanh": lambda z: torch.tanh(z), "sigmoid": lambda z: torch.sigmoid(z),
    "relu": lambda z: torch.relu(z), "relu:1": lambda z: torch.relu(z), "elu": lambda z: torch.nn.functional.elu(z),
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "softplus": lambda z: torch.nn.functional.softplus(z),
}


def _torch_loss(net: Network, A, Y):
    """Per-sample losses (m,) of the output A: (n_k, m), from torch primitives."""
    if net.loss == "half_sse":
        return 0.5 * ((A - Y) ** 2).sum(0)
    if net.loss == "sse":
        return ((A - Y) ** 2).sum(0)
    if net.loss == "bce":
        return torch.nn.functional.binary_cross_entropy(A, Y, reduction="none").sum(0)
    if net.loss == "softmax_ce":
        return -(Y * torch.log_softmax(A, dim=0)).sum(0)
    if net.loss == "output":
        return A[0]
    if net.loss == "readout":
        return torch.tensor(net.alpha, dtype=torch.float64) @ A
    raise AssertionError(net.loss)


def torch_gradients(case: Case) -> dict[str, np.ndarray]:
    """torch.autograd float64 gradients of the declared loss, named in the case's own layout."""
    net = case.network
    t = lambda a: None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    params = [(t(W), t(b)) for W, b in case.params]
    A = torch.tensor(case.X, dtype=torch.float64, requires_grad=True)
    As = [A]
    for layer, (W, b) in enumerate(params, start=1):
        Z = W @ A + (b[:, None] if b is not None else 0)
        A = _TORCH_ACT[net.activations[layer - 1]](Z)
        A.retain_grad()
        As.append(A)
    Y = None if case.Y is None else torch.tensor(case.Y, dtype=torch.float64)
    per_sample = _torch_loss(net, A, Y)
    m = case.batch_size
    loss = {"sum": per_sample.sum(), "mean": per_sample.mean(), "mean_all": per_sample.sum() / (m * net.n_out)}[
        net.reduction]
    l2, l1 = getattr(net, "l2", 0.0), getattr(net, "l1", 0.0)
    if l2 or l1:  # c(m) (l2 sum w^2 + l1 sum |w|) over the weights, and the biases with penalty_bias
        c = {"half": 0.5, "full": 1.0, "half_over_m": 0.5 / m, "over_m": 1.0 / m}[net.penalty_form]
        arrays = [W for W, _ in params] + ([b for _, b in params if b is not None] if net.penalty_bias else [])
        loss = loss + c * sum(l2 * (w ** 2).sum() + l1 * w.abs().sum() for w in arrays)
    loss.backward()
    grads = tuple((W.grad.numpy(), None if b is None else b.grad.numpy()) for W, b in params)
    c = case.convention
    out = user_arrays(c, net, c.params_to_user(grads, net, gradient=True))
    # dL/dA_l (canonical (n_l, m)), for code that also returns dA entries; with the reduction's factor
    for layer, a in enumerate(As):
        out[f"dA{layer}"] = a.grad.numpy().T if c.batch == "rows" else a.grad.numpy()
    return out


def _reduction_factor(case: Case) -> float:
    net, m = case.network, case.batch_size
    return {"sum": 1.0, "mean": 1.0 / m, "mean_all": 1.0 / (m * net.n_out)}[net.reduction]


def _agree(case: Case, got) -> bool:
    """The parameter gradients agree with torch.autograd; so do dA entries, if any, either as dL/dA
    or (deeplearning.ai) without the reduction's factor."""
    want = torch_gradients(case)
    value, activations, _ = split_extras(case.convention, case.network, got)
    have = user_arrays(case.convention, case.network, value)
    close = lambda a, b: a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-12)  # noqa: E731
    if not all(close(have[p], want[p]) for p in have):
        return False
    f = _reduction_factor(case)
    return all(any(close(np.asarray(a, float), want[k] / scale) for scale in (1.0, f))
               for k, a in activations.items())


CORRECT = [n for n, s in STUDENTS.items() if s.expected is None]
MISTAKES = [n for n, s in STUDENTS.items() if s.expected is not None]


def test_the_set_is_large_enough():
    assert len(MISTAKES) >= 30 and len(CORRECT) >= 8


@pytest.mark.parametrize("name", CORRECT)
def test_correct_students_agree_with_torch_autograd(name):
    student = STUDENTS[name]
    for kind in ("distinct", "square", "m_width"):
        case = _case(student, kind)
        assert _agree(case, _call(student, case)), (name, kind)


@pytest.mark.parametrize("name", MISTAKES)
def test_each_mistake_is_real(name):
    student = STUDENTS[name]
    case = _case(student, student.shows_on)
    got = _call(student, case)
    if student.shows_on == "mutation":
        params, X, Y = case.user_inputs()
        before = copy.deepcopy(params)
        _load(student.target)(params, X, Y)
        changed = [k for k in before if not np.array_equal(before[k], params[k])]
        assert changed, "the inputs were not mutated"
    elif student.shows_on == "repeat":
        again = _call(student, case)
        a, b = (user_arrays(case.convention, case.network, g) for g in (got, again))
        assert any(not np.array_equal(a[p], b[p]) for p in a), "two calls agree"
    elif student.shows_on == "dtype":
        dtypes = {np.asarray(x).dtype for x in user_arrays(case.convention, case.network, got).values()}
        raw = got.values() if isinstance(got, dict) else [a for pair in got for a in pair]
        assert any(np.asarray(a).dtype != np.float64 for a in raw), dtypes
        assert not _agree(case, got)
    else:
        assert not _agree(case, got), f"{name} agrees with torch.autograd on {student.shows_on} dimensions"
        if student.shows_on != "distinct":  # and only there: on distinct dimensions right, or a crash
            distinct = _case(student, "distinct")
            try:
                got = _call(student, distinct)
            except ValueError:
                return
            assert _agree(distinct, got)


# ---- through crosscheck check -------------------------------------------------------------------------

def _run_all() -> dict[str, tuple[int, list[str], str]]:
    out = {}
    for name, student in STUDENTS.items():
        # one kink policy with the sweep: a difference only exactly at a kink fails with strict_kinks
        report = run_check(student.target, resolve_options(**student.options), examples=EXAMPLES, seed=0,
                           strict_kinks=student.shows_on == "kink")
        out[name] = (report.exit_code, [d.id for d in report.diagnosis],
                     report.summary().splitlines()[0] if report.verdict != "pass" else "")
    return out


def test_a_kink_only_student_passes_with_a_note_unless_strict():
    (name,) = [n for n, s in STUDENTS.items() if s.shows_on == "kink"]
    student = STUDENTS[name]
    report = run_check(student.target, resolve_options(**student.options), examples=EXAMPLES, seed=0)
    assert report.exit_code == 0 and [n["kind"] for n in report.kink_notes] == ["kink_convention"]


def confusion_table(results: dict[str, tuple[int, list[str], str]]) -> str:
    """Markdown: per student the expected id, the first two given ids and the exit code, then the
    expected-by-given counts."""
    lines = ["# Confusion table: the fresh student set (`tests/students`)", "",
             f"Generated by `tests/test_students.py` (`crosscheck check`, {EXAMPLES} examples, seed 0); "
             "regenerate with `CROSSCHECK_WRITE_CONFUSION=1 python -m pytest tests/test_students.py -n 0`.", "",
             "| student | expected | exit | given (first, second) | named right |", "|---|---|---|---|---|"]
    counts: Counter = Counter()
    right = total = 0
    for name, student in STUDENTS.items():
        code, ids, _ = results[name]
        expected = student.expected or "(pass)"
        given = ids[:2] if ids else ["(pass)"]
        ok = (student.expected is None and code == 0) or (student.expected in ids[:2] and code == 1)
        if student.expected is not None:
            total += 1
            right += ok
        counts[(expected, ids[0] if ids else "(pass)")] += 1
        lines.append(f"| {name} | {expected} | {code} | {', '.join(given)} | {'yes' if ok else 'NO'} |")
    lines += ["", f"Mistakes named right first or second: {right} of {total} ({100 * right / total:.0f}%).", "",
              "| expected \\ given first | count |", "|---|---|"]
    for (e, g), n in sorted(counts.items()):
        lines.append(f"| {e} -> {g} | {n} |")
    return "\n".join(lines) + "\n"


def test_the_set_through_crosscheck_check():
    """One test, so the ~45 checks (about a second each) run once, not once per xdist worker."""
    results = _run_all()
    for name, student in STUDENTS.items():  # correct code passes, every mistake fails with exit 1
        code, ids, first = results[name]
        assert code == (0 if student.expected is None else 1), (name, code, ids, first)
    right = [n for n in MISTAKES if STUDENTS[n].expected in results[n][1][:2]]
    wrong = {n: (STUDENTS[n].expected, results[n][1][:2]) for n in MISTAKES if n not in right}
    assert len(right) >= 0.9 * len(MISTAKES), wrong
    table = confusion_table(results)
    if os.environ.get("CROSSCHECK_WRITE_CONFUSION"):
        CONFUSION.write_text(table)
    assert CONFUSION.read_text() == table, "the diagnosis changed: regenerate tests/students/CONFUSION.md"
