"""Ground truth for the fresh layer set, independent of crosscheck: each file's functions, run in this
process on one case where the causes differ (N = 3, distinct dimensions, eps = 0.1, stride 2, pad 1),
against torch.autograd in float64 (forward through torch.nn.functional or the formula, gradients by
autograd, running statistics by the course's rule, test modes by the course's formula).

    python tests/fresh/layers/verify_torch.py [--holdout]

Prints, per file and layer, the worst relative error of each output; a mistake file must depart in its
layer, a correct file must agree everywhere (exit 1 otherwise)."""

import importlib.util
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from manifest import CORRECT, FRESH, path  # noqa: E402

torch.set_default_dtype(torch.float64)
T = torch.tensor


def _grads(fn, dout, *arrays):
    ts = [T(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(T(dout))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def case(layer, rng):
    N, D, M, C, H, W, eps, mom = 3, 5, 4, 2, 5, 7, 0.1, 0.7
    if layer in ("affine",):
        return {"x": rng.normal(size=(N, 2, 3)), "w": rng.normal(size=(6, M)), "b": rng.normal(size=M),
                "dout": rng.normal(size=(N, M))}
    if layer in ("relu", "dropout"):
        return {"x": rng.normal(size=(N, D)), "dout": rng.normal(size=(N, D))}
    if layer in ("softmax_loss", "svm_loss"):
        return {"x": rng.normal(size=(N, D)) * 1.5, "y": rng.integers(0, D, size=N)}
    if layer in ("batchnorm", "batchnorm_alt", "layernorm"):
        return {"x": rng.normal(size=(N, D)) * 2 + 1, "gamma": rng.normal(size=D), "beta": rng.normal(size=D),
                "dout": rng.normal(size=(N, D)), "eps": eps, "momentum": mom,
                "rm": rng.normal(size=D), "rv": rng.uniform(0.5, 2, size=D)}
    if layer == "spatial_batchnorm":
        return {"x": rng.normal(size=(N, C, H, W)) * 2 + 1, "gamma": rng.normal(size=C), "beta": rng.normal(size=C),
                "dout": rng.normal(size=(N, C, H, W)), "eps": eps, "momentum": mom,
                "rm": rng.normal(size=C), "rv": rng.uniform(0.5, 2, size=C)}
    if layer == "spatial_groupnorm":
        return {"x": rng.normal(size=(N, 6, H, W)), "gamma": rng.normal(size=(1, 6, 1, 1)),
                "beta": rng.normal(size=(1, 6, 1, 1)), "dout": rng.normal(size=(N, 6, H, W)), "eps": eps, "G": 2}
    if layer == "conv":
        return {"x": rng.normal(size=(N, C, H, W)), "w": rng.normal(size=(4, C, 3, 2)), "b": rng.normal(size=4),
                "dout": rng.normal(size=(N, 4, 3, 4)), "stride": 2, "pad": 1}
    if layer == "max_pool":
        x = rng.permutation(N * C * 6 * 7).reshape(N, C, 6, 7) * 0.1
        return {"x": x, "dout": rng.normal(size=(N, C, 2, 3)), "ph": 3, "pw": 2, "stride": 2}
    raise KeyError(layer)


def torch_expected(layer, a):
    if layer == "affine":
        out, (dx, dw, db) = _grads(lambda x, w, b: x.reshape(3, -1) @ w + b, a["dout"], a["x"], a["w"], a["b"])
        return {"out": out, "dx": dx, "dw": dw, "db": db}
    if layer == "relu":
        out, (dx,) = _grads(F.relu, a["dout"], a["x"])
        return {"out": out, "dx": dx}
    if layer in ("softmax_loss", "svm_loss"):
        x = T(a["x"], requires_grad=True)
        y = torch.as_tensor(a["y"])
        if layer == "softmax_loss":
            loss = F.cross_entropy(x, y)
        else:
            margins = torch.clamp(x - x[torch.arange(len(y)), y][:, None] + 1, min=0)
            loss = (margins.sum() - len(y)) / len(y)  # the label's own margin is exactly 1
        loss.backward()
        return {"loss": loss.item(), "dx": x.grad.numpy()}
    if layer in ("batchnorm", "batchnorm_alt", "spatial_batchnorm", "layernorm"):
        eps = a["eps"]
        if layer == "layernorm":
            fn = lambda x, g, b: F.layer_norm(x, (x.shape[1],), g, b, eps)  # noqa: E731
        else:
            fn = lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=eps)  # noqa: E731
        out, (dx, dg, db) = _grads(fn, a["dout"], a["x"], a["gamma"], a["beta"])
        res = {"out": out, "dx": dx, "dgamma": dg, "dbeta": db}
        if layer != "layernorm":
            axes = (0,) if a["x"].ndim == 2 else (0, 2, 3)
            m = a["momentum"]
            res["running_mean"] = m * a["rm"] + (1 - m) * a["x"].mean(axis=axes)
            res["running_var"] = m * a["rv"] + (1 - m) * a["x"].var(axis=axes)
            res["out_test_mode"] = F.batch_norm(T(a["x"]), T(a["rm"]), T(a["rv"]), T(a["gamma"]), T(a["beta"]),
                                                training=False, eps=eps).numpy()
        return res
    if layer == "spatial_groupnorm":
        out, (dx, dg, db) = _grads(lambda x, g, b: F.group_norm(x, a["G"], g.reshape(-1), b.reshape(-1), a["eps"]),
                                   a["dout"], a["x"], a["gamma"], a["beta"])
        return {"out": out, "dx": dx, "dgamma": dg, "dbeta": db}
    if layer == "conv":
        out, (dx, dw, db) = _grads(lambda x, w, b: F.conv2d(x, w, b, stride=a["stride"], padding=a["pad"]),
                                   a["dout"], a["x"], a["w"], a["b"])
        return {"out": out, "dx": dx, "dw": dw, "db": db}
    if layer == "max_pool":
        out, (dx,) = _grads(lambda x: F.max_pool2d(x, (a["ph"], a["pw"]), a["stride"]), a["dout"], a["x"])
        return {"out": out, "dx": dx}
    raise KeyError(layer)


def student(mod, layer, a, dropout_p):
    if layer == "affine":
        out, cache = mod.affine_forward(a["x"], a["w"], a["b"])
        return {"out": out, **dict(zip(("dx", "dw", "db"), mod.affine_backward(a["dout"], cache)))}
    if layer == "relu":
        out, cache = mod.relu_forward(a["x"])
        return {"out": out, "dx": mod.relu_backward(a["dout"], cache)}
    if layer in ("softmax_loss", "svm_loss"):
        loss, dx = getattr(mod, layer)(a["x"], a["y"])
        return {"loss": loss, "dx": dx}
    if layer in ("batchnorm", "batchnorm_alt", "spatial_batchnorm"):
        fwd = "spatial_batchnorm_forward" if layer == "spatial_batchnorm" else "batchnorm_forward"
        bwd = {"batchnorm": "batchnorm_backward", "batchnorm_alt": "batchnorm_backward_alt",
               "spatial_batchnorm": "spatial_batchnorm_backward"}[layer]
        p = {"mode": "train", "eps": a["eps"], "momentum": a["momentum"], "running_mean": a["rm"].copy(),
             "running_var": a["rv"].copy()}
        out, cache = getattr(mod, fwd)(a["x"], a["gamma"], a["beta"], p)
        res = {"out": out, "running_mean": p["running_mean"], "running_var": p["running_var"]}
        res.update(zip(("dx", "dgamma", "dbeta"), getattr(mod, bwd)(a["dout"], cache)))
        pt = {"mode": "test", "eps": a["eps"], "momentum": a["momentum"], "running_mean": a["rm"].copy(),
              "running_var": a["rv"].copy()}
        res["out_test_mode"] = getattr(mod, fwd)(a["x"], a["gamma"], a["beta"], pt)[0]
        return res
    if layer == "layernorm":
        out, cache = mod.layernorm_forward(a["x"], a["gamma"], a["beta"], {"eps": a["eps"]})
        return {"out": out, **dict(zip(("dx", "dgamma", "dbeta"), mod.layernorm_backward(a["dout"], cache)))}
    if layer == "spatial_groupnorm":
        out, cache = mod.spatial_groupnorm_forward(a["x"], a["gamma"], a["beta"], a["G"], {"eps": a["eps"]})
        return {"out": out, **dict(zip(("dx", "dgamma", "dbeta"), mod.spatial_groupnorm_backward(a["dout"], cache)))}
    if layer == "conv":
        out, cache = mod.conv_forward_naive(a["x"], a["w"], a["b"], {"stride": a["stride"], "pad": a["pad"]})
        return {"out": out, **dict(zip(("dx", "dw", "db"), mod.conv_backward_naive(a["dout"], cache)))}
    if layer == "max_pool":
        out, cache = mod.max_pool_forward_naive(a["x"], {"pool_height": a["ph"], "pool_width": a["pw"],
                                                         "stride": a["stride"]})
        return {"out": out, "dx": mod.max_pool_backward_naive(a["dout"], cache)}
    raise KeyError(layer)


def dropout_check(mod, dropout_p):
    """Dropout: the train-mode output divided by the kept mask must be x / keep; the backward must be
    autograd's through out = x * mask / keep with the forward's own mask; test mode must be identity."""
    rng = np.random.default_rng(1)
    x, dout, keep = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), 0.6
    p = keep if dropout_p == "keep" else 1 - keep
    out, cache = mod.dropout_forward(x, {"p": p, "mode": "train", "seed": 3})
    mask = (out != 0).astype(float)
    ref_out, (ref_dx,) = _grads(lambda t: t * T(mask) / keep, dout, x)
    dx = mod.dropout_backward(dout, cache)
    test_out, tcache = mod.dropout_forward(x, {"p": p, "mode": "test"})
    return {"out": _err(out, ref_out), "dx": _err(dx, ref_dx), "out_test_mode": _err(test_out, x),
            "dx_test_mode": _err(mod.dropout_backward(dout, tcache), dout)}


def _err(got, ref):
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    if got.shape != ref.shape:
        return float("inf") if got.size != ref.size else np.linalg.norm(got.ravel() - ref.ravel()) / max(
            np.linalg.norm(ref), 1e-300) + 1.0  # right values, wrong shape: still wrong
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-300))


LAYERS = ("affine", "relu", "softmax_loss", "svm_loss", "batchnorm", "batchnorm_alt", "layernorm", "dropout",
          "conv", "max_pool", "spatial_batchnorm", "spatial_groupnorm")


def errors(stem, layer, dropout_p, where=path):
    spec = importlib.util.spec_from_file_location("fresh_" + stem, where(stem))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if layer == "dropout":
        return dropout_check(mod, dropout_p)
    a = case(layer, np.random.default_rng(0))
    ref, got = torch_expected(layer, a), student(mod, layer, a, dropout_p)
    return {k: _err(got[k], ref[k]) for k in ref}


def main() -> int:
    bad = 0
    fresh, where = FRESH, path
    if "--holdout" in sys.argv:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "holdout"))
        from holdout_manifest import HOLDOUT  # noqa: E402
        fresh, where = HOLDOUT, lambda stem: os.path.join(os.path.dirname(os.path.abspath(__file__)), "holdout",
                                                          stem + ".py")
    for stem, (layer, dp, _ids) in fresh.items():
        errs = errors(stem, layer, dp, where)
        worst = max(errs.values())
        ok = worst > 1e-6
        bad += not ok
        shown = ", ".join(f"{k} {v:.1e}" for k, v in errs.items() if v > 1e-9) or "none departs"
        print(f"{'ok ' if ok else 'BAD'} mistake {stem:34s} {layer:18s} departs: {shown}")
    for stem, dp in (CORRECT if fresh is FRESH else {}).items():
        for layer in LAYERS:
            try:
                errs = errors(stem, layer, dp)
            except AttributeError:
                continue  # the file does not define this layer
            worst = max(errs.values())
            ok = worst < 1e-9
            bad += not ok
            print(f"{'ok ' if ok else 'BAD'} correct {stem:34s} {layer:18s} worst {worst:.1e}")
    print(f"{len(fresh)} mistakes, {len(CORRECT) if fresh is FRESH else 0} correct files; {bad} disagree with "
          "their label")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
