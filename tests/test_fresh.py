"""Issue 18: the fresh network-level set, diagnosis on it, and convention detection.

1. Ground truth (``tests/fresh/verify.py``): every correct implementation agrees with torch.autograd in
   float64, every mistake differs, and each mistake's declared truth or repair holds.
2. Diagnosis in process, on the case ``check`` diagnoses on (re-drawn: widths 5-6-7-3, m = 4): each
   mistake's expected id is named first or second, and every verdict names a layer and a quantity
   (never a bare ``unknown``).
3. ``crosscheck check`` through the sandbox on the container and convention slips (exit 1, named).
4. Detection (``crosscheck.check.detect``): the convention of every correct implementation in tests/
   and examples/ is found with no flags; the network too where its gradients match a declaration of
   the table exactly (penalties are not detected: they are declared).
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import replace
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))

from fresh import CORRECT, MISTAKES  # noqa: E402
from fresh.verify import case_for, load  # noqa: E402

from crosscheck.check.detect import detect  # noqa: E402
from crosscheck.check.job import run_check  # noqa: E402
from crosscheck.diagnosis.diagnose import diagnose  # noqa: E402
from crosscheck.errors import ConventionError  # noqa: E402
from crosscheck.model.presets import resolve_options  # noqa: E402

torch = pytest.importorskip("torch")


def test_ground_truth_against_torch_autograd():
    from fresh.verify import main

    assert main() == 0


# convention slips are found by probing the implementation (a sandbox call), not from one case's values
_PROBED = {"cs231n_declared_out_in", "cs231n_declared_columns", "cols_declared_dict", "nielsen_declared_columns"}


@pytest.mark.parametrize("name", sorted(set(MISTAKES) - _PROBED))
def test_each_mistake_is_named_in_process(name):
    entry = MISTAKES[name]
    case = case_for(entry.options, "distinct", m=4)
    case = case_for(entry.options, "distinct", m=4) if case.network.depth > 1 else case
    fn = load(entry.target)
    try:
        got = fn(*case.user_inputs())
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{name} raised {e!r} on its declared case")
    try:
        d = diagnose(case, got)
    except ConventionError as e:
        pytest.fail(f"{name}: {e}")
    ids = [x.id for x in d]
    assert ids, name
    assert ids[0] != "unknown" and d[0].layer >= 1 and d[0].parameter, (name, d[0])
    assert entry.expected[0] in ids[:2] or ids[0] in entry.expected, (name, ids, d[0].detail)


def _fails_named(target: str, options: dict, expected: str) -> None:
    report = run_check(target, resolve_options(**options), examples=20, seed=0)
    assert report.verdict == "fail", report.summary()
    assert report.diagnosis[0].id == expected, report.summary()


@pytest.mark.parametrize("name", ["dlai_keys_from_zero", "dlai_pairs_in_dict_out", "cs231n_declared_out_in",
                                  "cols_declared_dict"])
def test_container_and_convention_slips_are_exit_1_and_named(name, monkeypatch):
    monkeypatch.chdir(TESTS)
    entry = MISTAKES[name]
    _fails_named(entry.target, entry.options, entry.expected[0])


# ---- detection ---------------------------------------------------------------------------------------

def _every_correct() -> dict[str, tuple]:
    """name -> (callable, declared options), every correct implementation in tests/ and examples/."""
    from students import STUDENTS

    out = {}
    for name, e in CORRECT.items():
        out[f"fresh:{name}"] = (e.target, e.options)
    for name, s in STUDENTS.items():
        if s.expected is None:
            out[f"students:{name}"] = (s.target, s.options)
    from implementations import correct, published_style

    for name, opts in correct.CONVENTIONS.items():
        out[f"implementations.correct:{name}"] = ("implementations.correct:" + name, opts)
    for name, opts in published_style.DECLARED.items():
        out[f"published_style:{name}"] = ("implementations.published_style:" + name, opts)
    from holdout import NETWORK

    for e in NETWORK:  # the held-out set (tests/holdout), declared as crosscheck check's flags
        if e["correct"]:
            out[f"holdout:{e['name']}"] = ("../" + e["target"], _options_of(e["flags"]))
    out["examples:cs231n_two_layer"] = ("../examples/cs231n_two_layer.py:loss_grads", {"preset": "cs231n", "l2": 0.05})
    sys.path.insert(0, str(TESTS.parent / "examples" / "user_project"))
    mybackprop = import_module("mybackprop")
    out["examples:user_project"] = ("mybackprop:backprop", {**mybackprop.LAYOUT, **mybackprop.NETWORK})
    return out


def _options_of(flags: list[str]) -> dict:
    """``--l2 0.05 --penalty-form half`` as check_implementation's keywords (numbers as numbers)."""
    out: dict = {}
    for key, value in zip(flags[::2], flags[1::2]):
        name = key.removeprefix("--").replace("-", "_")
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                pass
        out[name] = value
    return out


def _callable(target: str):
    if target.startswith("fresh/") or target.startswith("../"):
        return load(target)
    module, _, fn = target.partition(":")
    return getattr(import_module(module), fn)


CORRECT_EVERYWHERE = _every_correct()


def _penalty_gradient_scale(options, m: int) -> tuple:
    """(2 c(m) l2, c(m) l1, penalty_bias): what a penalty adds to dW at batch size m; forms that give the
    same gradients (half with l2 = full with l2/2) give the same triple."""
    from crosscheck.model.penalties import penalty_scale

    c = penalty_scale(options.get("penalty_form") or "half", m)
    return (round(2 * c * (options.get("l2") or 0.0), 12), round(c * (options.get("l1") or 0.0), 12),
            bool(options.get("penalty_bias")) and bool(options.get("l2") or options.get("l1")))


@pytest.mark.parametrize("name", sorted(CORRECT_EVERYWHERE))
def test_no_flags_finds_the_convention_of_every_correct_implementation(name):
    target, options = CORRECT_EVERYWHERE[name]
    fn = _callable(target)
    declared = resolve_options(**options)
    spec = "spec" in inspect.signature(fn).parameters  # probed with a spec describing each probe
    found = detect((lambda p, X, Y, spec=None: fn(p, X, Y, spec=spec)) if spec else (lambda p, X, Y: fn(p, X, Y)),
                   spec=spec)
    assert found is not None, name
    conv = declared.convention()
    if conv.batch == "single" and found.convention.batch == "columns":  # code that takes m columns takes one too
        conv = replace(conv, batch="columns")
    assert found.convention == conv, (name, found.flags())
    # every correct implementation is matched exactly: penalties fitted, Y-free losses probed
    assert found.exact, (name, found.flags())
    for key in ("hidden", "output", "loss"):  # the network found is the declared one wherever that is fixed
        value = getattr(declared, key)
        if value is not None and key in found.network:
            # relu:1 is relu with relu'(0) = 1: the same gradients off the kink, where probes land
            assert found.network[key].partition(":")[0] == value.partition(":")[0], (name, key, found.flags())
    batch_sizes = (1,) if declared.batch == "single" else (1, 4, 7)
    for m in batch_sizes:  # the penalty found adds what the declared one adds, at every batch size
        assert _penalty_gradient_scale(found.network, m) == _penalty_gradient_scale(declared.to_dict(), m), \
            (name, m, found.flags())


def test_detection_on_wrong_code_finds_the_layout_and_says_it_is_not_exact():
    fn = load(MISTAKES["cs231n_probs_over_N"].target)
    found = detect(lambda p, X, Y: fn(p, X, Y))
    assert found is not None and not found.exact
    assert (found.convention.batch, found.convention.weights, found.convention.params) == ("rows", "in_out", "dict")


def test_cli_without_flags_detects_and_checks_under_the_declaration_found(monkeypatch, capsys):
    from crosscheck.cli import main

    monkeypatch.chdir(TESTS)
    code = main(["check", CORRECT["nnfs_network"].target, "--examples", "10"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("detected: --batch rows --weights in_out --bias row --params pairs"), out
    assert "--loss softmax_ce" in out and "--targets onehot" in out


def test_all_zero_reference_gets_the_absolute_error():
    from crosscheck.diagnosis.locate import reconstruct_delta

    A = np.eye(3)
    assert np.allclose(reconstruct_delta(A, np.zeros((2, 3)), np.zeros(2)), 0)
