"""Ground truth of the fresh set (``tests/fresh``), independently of crosscheck's reference: torch.autograd
in float64 on a network built here from torch's own primitives.

For each entry, on distinct dimensions (widths 4-5-6-3, m = 7) and coincident ones (square W, m equal
to a width): a correct implementation returns torch's gradients; a mistake does not (it differs, raises,
or returns another container) on at least one of them; a mistake with a ``truth`` returns exactly torch's
gradients of that other declaration (another network or convention); one with a ``fix`` returns them
once repaired (keys renamed, pairs swapped, batch size 64).

Run: ``python tests/fresh/verify.py`` (exit 1 on any disagreement); ``tests/test_fresh.py`` runs it.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import replace
from importlib import util
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from crosscheck.check.job import DEFAULTS  # noqa: E402
from crosscheck.diagnosis.catalogue import user_arrays  # noqa: E402
from crosscheck.draws import draw  # noqa: E402
from crosscheck.model.case import Case  # noqa: E402
from crosscheck.model.network import Network  # noqa: E402
from crosscheck.model.penalties import penalty_scale  # noqa: E402
from crosscheck.model.presets import resolve_options  # noqa: E402
from fresh import CORRECT, MISTAKES, Fresh  # noqa: E402

KINDS = {"distinct": ((4, 5, 6, 3), 7), "square": ((4, 4, 4, 4), 4)}


def load(target: str):
    path, _, name = target.partition(":")
    spec = util.spec_from_file_location("fresh_" + Path(path).stem, TESTS / path)
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def network(options: dict, widths: tuple[int, ...], activations: tuple[str, ...] | None = None) -> tuple:
    o = resolve_options(**options)
    pick = lambda name: getattr(o, name) or DEFAULTS[name]  # noqa: E731
    if o.depth is not None:
        widths = widths[:o.depth] + widths[-1:]
    k = len(widths) - 1
    acts = [pick("hidden")] * (k - 1) + [pick("output")]
    for i, a in enumerate(activations or ()):
        if i < k - 1:
            acts[i] = a
    extra = {f: getattr(o, f) for f in ("targets", "l2", "l1", "penalty_form", "penalty_bias")
             if getattr(o, f, None) is not None}
    conv = o.convention()
    net = Network(widths, tuple(acts), loss=pick("loss"), reduction=pick("reduction"), bias=conv.has_bias, **extra)
    return net, conv


def case_for(options: dict, kind: str, seed: int = 5, m: int | None = None, activations=None) -> Case:
    widths, m_default = KINDS[kind]
    net, conv = network(options, widths, activations)
    m = 1 if conv.batch == "single" else (m or m_default)
    params, X, Y = draw(net, seed, batch_size=m).one(0)
    return Case(net, conv, params, X, Y)


def torch_gradients(net: Network, params, X, Y) -> list:
    """Canonical (dW, db) per layer: samples are columns, W (n_out, n_in)."""
    import torch

    F = torch.nn.functional
    acts = {"identity": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
            "leaky_relu": lambda z: F.leaky_relu(z, 0.01), "elu": F.elu, "softplus": F.softplus}
    Ws = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W, _ in params]
    bs = [None if b is None else torch.tensor(b, dtype=torch.float64, requires_grad=True) for _, b in params]
    A = torch.tensor(X, dtype=torch.float64)
    for layer, (W, b) in enumerate(zip(Ws, bs), start=1):
        Z = W @ A + (0 if b is None else b[:, None])
        A = acts[net.activations[layer - 1]](Z)
    T = torch.tensor(Y, dtype=torch.float64)
    m = X.shape[1]
    if net.loss == "half_sse":
        per = 0.5 * ((A - T) ** 2).sum(0)
    elif net.loss == "sse":
        per = ((A - T) ** 2).sum(0)
    elif net.loss == "bce":
        per = -(T * torch.log(A) + (1 - T) * torch.log(1 - A)).sum(0)
    elif net.loss == "softmax_ce":
        per = -(T * torch.log_softmax(A, dim=0)).sum(0)
    else:
        raise ValueError(net.loss)
    total = {"sum": per.sum(), "mean": per.sum() / m, "mean_all": per.sum() / (m * A.shape[0])}[net.reduction]
    c = penalty_scale(net.penalty_form, m)
    for W, b in zip(Ws, bs):
        for w in [W] + ([b] if net.penalty_bias and b is not None else []):
            total = total + c * (net.l2 * (w ** 2).sum() + net.l1 * w.abs().sum())
    total.backward()
    return [(W.grad.numpy(), None if b is None else b.grad.numpy()) for W, b in zip(Ws, bs)]


def call(fn, case: Case):
    params, X, Y = case.user_inputs()
    if "spec" in inspect.signature(fn).parameters:
        return fn(params, X, Y, spec={"network": case.network.to_dict(), "convention": case.convention.to_dict()})
    return fn(params, X, Y)


def agrees(fn, case: Case, fix: str = "") -> bool:
    """fn's gradients on ``case`` equal torch.autograd's (after ``fix``); False if it raises or returns
    another container."""
    try:
        got = call(fn, case)
        if fix == "keys+1":
            got = {k[:2] + str(int(k[2:]) + 1): v for k, v in got.items()}
        elif fix == "swap":
            got = [(b, W) for W, b in got]
        conv = replace(case.convention, params="dict") if fix == "dict" else case.convention
        got = user_arrays(conv, case.network, got)
    except Exception:
        return False
    want = torch_gradients(case.network, case.params, case.X, case.Y)
    expected = user_arrays(conv, case.network, conv.params_to_user(tuple(want), case.network, gradient=True))
    return all(got[k].shape == expected[k].shape and np.allclose(got[k], expected[k], rtol=1e-9, atol=1e-12)
               for k in expected)


def verify(name: str, entry: Fresh) -> list[str]:
    """Disagreements between ``entry``'s docstring claim and torch.autograd (empty when it holds)."""
    fn = load(entry.target)
    problems = []
    if not entry.expected:
        for kind in KINDS:
            if not agrees(fn, case_for(entry.options, kind)):
                problems.append(f"{name}: correct implementation differs from torch.autograd on {kind}")
        return problems
    if all(agrees(fn, case_for(entry.options, kind)) for kind in KINDS):
        problems.append(f"{name}: the mistake agrees with torch.autograd on every case")
    if entry.truth is not None or entry.activations is not None:
        truth = entry.truth or entry.options
        for kind in KINDS:
            if not agrees(fn, case_for(truth, kind, activations=entry.activations)):
                problems.append(f"{name}: not exactly right under its truth {truth} {entry.activations or ''} "
                                f"on {kind}")
    if entry.fix:
        m = 64 if entry.fix == "m64" else None
        if not agrees(fn, case_for(entry.options, "distinct", m=m), "" if entry.fix == "m64" else entry.fix):
            problems.append(f"{name}: not right once repaired ({entry.fix})")
    return problems


def main() -> int:
    problems = []
    for name, entry in {**MISTAKES, **CORRECT}.items():
        problems += verify(name, entry)
    for p in problems:
        print(p)
    print(f"{len(MISTAKES)} mistakes, {len(CORRECT)} correct implementations: "
          f"{'all verified against torch.autograd' if not problems else f'{len(problems)} disagreements'}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
