"""Ground truth for the held-out network set, independent of crosscheck.

For every manifest entry this builds the declared network's loss in torch (float64) from the flags
alone, takes its gradient with torch.autograd, and calls the implementation on the same arrays
(in the declared layout) on several random networks: every depth it allows, distinct widths, and
batch sizes 1 to 5. A CORRECT entry must agree everywhere to 1e-10 (relative) and leave its inputs
alone; a WRONG one must depart somewhere (relative error > 1e-6, a wrong shape or container) or
mutate an input.

    python tests/holdout/verify.py            # exit 0 when the ground truth holds for every entry
"""
from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

# What each preset declares (from `crosscheck conventions`, as printed in docs/layouts-and-porting.md).
PRESETS = {
    "cs231n": dict(batch="rows", weights="in_out", bias="vector", params="dict", hidden="relu",
                   output="identity", loss="softmax_ce", targets="labels", reduction="mean",
                   depth="2", penalty_form="half"),
    "cs231n-fc": dict(batch="rows", weights="in_out", bias="vector", params="dict", hidden="relu",
                      output="identity", loss="softmax_ce", targets="labels", reduction="mean",
                      penalty_form="half"),
    "deeplearning.ai": dict(batch="columns", weights="out_in", bias="column", params="dict",
                            hidden="relu", output="sigmoid", loss="bce", targets="binary",
                            reduction="mean", penalty_form="half_over_m"),
    "nielsen": dict(batch="single", weights="out_in", bias="column", params="pairs",
                    hidden="sigmoid", output="sigmoid", loss="half_sse", reduction="sum"),
    "torch": dict(batch="rows", weights="out_in", bias="vector", params="pairs"),
    "phunc20": dict(batch="rows", weights="in_out", bias="row", params="dict", hidden="tanh",
                    output="sigmoid", loss="bce", reduction="mean"),
}
DEFAULTS = dict(penalty_form="half", l2="0", depth=None, targets=None)


def declared(flags: list[str]) -> dict:
    """The full declaration a flag list makes (a preset first, explicit flags over it)."""
    opts = dict(DEFAULTS)
    pairs = dict(zip(flags[::2], flags[1::2]))
    if "--preset" in pairs:
        opts.update(PRESETS[pairs.pop("--preset")])
    for key, value in pairs.items():
        opts[key[2:].replace("-", "_")] = value
    return opts


def load(target: str):
    path, name = target.split(":")
    spec = importlib.util.spec_from_file_location("holdout_" + Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _act(name, z):
    import torch
    return {"identity": lambda t: t, "relu": torch.relu, "tanh": torch.tanh,
            "sigmoid": torch.sigmoid}[name](z)


def draw(opts: dict, depth: int, rng: np.random.Generator):
    """One case: canonical arrays (rows, W (in, out), b (out,)) and the declared layout's."""
    widths = [int(w) for w in rng.choice(np.arange(2, 9), size=depth + 1, replace=False)]
    m = 1 if opts["batch"] == "single" else int(rng.integers(1, 6))
    X = rng.normal(size=(m, widths[0]))
    Ws = [rng.normal(size=(a, b)) / np.sqrt(a) for a, b in zip(widths, widths[1:])]
    bs = [0.5 * rng.normal(size=b) for b in widths[1:]]
    K = widths[-1]
    targets = opts["targets"]
    if opts["loss"] == "softmax_ce":
        labels = rng.integers(0, K, size=m)
        Y = labels if targets == "labels" else np.eye(K)[labels]
    elif opts["loss"] == "bce":
        Y = rng.integers(0, 2, size=(m, K)).astype(float)
    else:
        Y = rng.normal(size=(m, K))
    return widths, X, Ws, bs, Y


def to_layout(opts, X, Ws, bs, Y):
    cols = opts["batch"] in ("columns", "single")
    Xd = X.T.copy() if cols else X.copy()
    Yd = Y.T.copy() if (cols and Y.ndim == 2) else Y.copy()
    layers = []
    for W, b in zip(Ws, bs):
        Wd = W.T.copy() if opts["weights"] == "out_in" else W.copy()
        bd = {"vector": b.copy(), "column": b[:, None].copy(), "row": b[None, :].copy(),
              "none": None}[opts["bias"]]
        layers.append((Wd, bd))
    if opts["params"] == "pairs":
        params = [(W, b) for W, b in layers]
    else:
        params = {}
        for i, (W, b) in enumerate(layers, 1):
            params[f"W{i}"] = W
            if b is not None:
                params[f"b{i}"] = b
    return params, Xd, Yd


def reference(opts, X, Ws, bs, Y):
    """torch.autograd gradients of the declared loss, canonical layout."""
    import torch
    Wt = [torch.tensor(W, dtype=torch.float64, requires_grad=True) for W in Ws]
    use_bias = opts["bias"] != "none"
    bt = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in bs]
    A = torch.tensor(X, dtype=torch.float64)
    L = len(Ws)
    for i in range(L):
        Z = A @ Wt[i] + (bt[i] if use_bias else 0)
        A = _act(opts["hidden"] if i < L - 1 else opts["output"], Z)
    m, K = A.shape
    if opts["loss"] == "softmax_ce":
        logp = torch.log_softmax(A, dim=1)
        Yt = (torch.nn.functional.one_hot(torch.tensor(Y), K).double()
              if opts["targets"] == "labels" else torch.tensor(Y))
        per = -(Yt * logp)
    elif opts["loss"] == "bce":
        Yt = torch.tensor(Y)
        per = -(Yt * torch.log(A) + (1 - Yt) * torch.log(1 - A))
    elif opts["loss"] == "half_sse":
        per = 0.5 * (A - torch.tensor(Y)) ** 2
    else:
        raise ValueError("verify.py does not build loss {!r}".format(opts["loss"]))
    total = per.sum()
    loss = {"sum": total, "mean": total / m, "mean_all": total / (m * K)}[opts["reduction"]]
    lam = float(opts["l2"])
    if lam:
        scale = {"half": lam / 2, "full": lam, "half_over_m": lam / (2 * m),
                 "over_m": lam / m}[opts["penalty_form"]]
        loss = loss + scale * sum((W ** 2).sum() for W in Wt)
    loss.backward()
    return [W.grad.numpy() for W in Wt], [b.grad.numpy() if use_bias else b.detach().numpy() * 0
                                           for b in bt]


def returned(opts, grads, n_layers):
    """The implementation's gradients as [(dW, db or None), ...] in the declared layout."""
    out = []
    for i in range(n_layers):
        if opts["params"] == "pairs":
            pair = grads[i]
            dW, db = pair[0], (pair[1] if opts["bias"] != "none" else None)
        else:
            def pick(name):
                return grads["d" + name] if "d" + name in grads else grads[name]
            dW = pick(f"W{i + 1}")
            db = pick(f"b{i + 1}") if opts["bias"] != "none" else None
        out.append((np.asarray(dW, dtype=float), None if db is None else np.asarray(db, float)))
    return out


def compare_once(fn, opts, depth, rng):
    """(relative error or inf for a wrong shape/container, mutated?) on one drawn case."""
    widths, X, Ws, bs, Y = draw(opts, depth, rng)
    params, Xd, Yd = to_layout(opts, X, Ws, bs, Y)
    gW, gb = reference(opts, X, Ws, bs, Y)
    expected_params, _, _ = to_layout(opts, X, gW, gb, Y)
    args = copy.deepcopy((params, Xd, Yd))
    try:
        got = returned(opts, fn(*args), depth)
    except Exception as exc:  # a container or key mistake is a departure too
        return float("inf"), False, f"{type(exc).__name__}: {exc}"
    mutated = not (np.array_equal(args[1], Xd) and np.array_equal(args[2], Yd) and all(
        np.array_equal(a, b) for a, b in zip(_flat(args[0]), _flat(params))))
    exp = returned(opts, expected_params, depth)
    worst = 0.0
    for (dW, db), (eW, eb) in zip(got, exp):
        for g, e in ((dW, eW), (db, eb)):
            if e is None:
                continue
            if g.shape != e.shape:
                return float("inf"), mutated, f"shape {g.shape}, expected {e.shape}"
            worst = max(worst, np.abs(g - e).max() / max(np.abs(e).max(), 1e-300))
    return worst, mutated, ""


def _flat(params):
    if isinstance(params, dict):
        return [params[k] for k in sorted(params)]
    return [a for pair in params for a in pair if a is not None]


def verify_entry(entry, trials: int = 6, seed: int = 0):
    """(worst relative error, any mutation, a note) over every allowed depth and `trials` draws."""
    opts = declared(entry["flags"])
    fn = load(entry["target"])
    depths = [int(opts["depth"])] if opts["depth"] else [1, 2, 3]
    rng = np.random.default_rng(seed)
    worst, mutated, note = 0.0, False, ""
    for depth in depths:
        for _ in range(trials):
            err, mut, why = compare_once(fn, opts, depth, rng)
            mutated |= mut
            if err > worst:
                worst, note = err, why or f"depth {depth}"
    return worst, mutated, note


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.holdout import NETWORK
    bad = 0
    for entry in NETWORK:
        worst, mutated, note = verify_entry(entry)
        if entry["correct"]:
            ok = worst < 1e-10 and not mutated
        else:
            ok = worst > 1e-6 or mutated
        bad += not ok
        verdict = "ok" if ok else "BAD"
        kind = "correct" if entry["correct"] else "wrong"
        mutation = "mutates inputs" if mutated else ""
        print(f"{verdict:4} {kind:8} {entry['name']:32} max rel err {worst:<9.2e} {mutation} {note}")
    n_correct = sum(e["correct"] for e in NETWORK)
    holds = "holds" if not bad else f"FAILS for {bad}"
    print(f"{len(NETWORK)} entries, {n_correct} correct, {len(NETWORK) - n_correct} wrong; "
          f"ground truth {holds}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
