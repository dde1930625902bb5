"""Worker side: a function with its own signature and parameter layout called as ``fn(params, X, Y)``.

Runs in the sandbox's worker (BOOT runs this text before ``worker``'s), so it imports nothing of
crosscheck. ``packed_function(fn, pack)`` receives the case in the convention the parent checks
(a list of ``(W, b)`` pairs, or a dict ``W1, b1, ...`` when a probe tries one) and:

- lays each layer out as the user's code expects it: ``bias_first`` makes Ng's
  ``Theta_l = [b_l | W_l]`` (out_in: ``(n_l, n_{l-1} + 1)``, the bias its first column; in_out: the
  transpose, the bias its first row); ``flat`` unrolls every array into one vector in ``order``
  (``C``: row order, NumPy's ``ravel()``; ``F``: column order, Octave's ``Theta(:)``), layer after
  layer (``W1, b1, W2, b2`` when the bias is separate);
- calls the function with the positional arguments ``args`` names (``params``, ``X``, ``Y``,
  ``y``: the class of each sample counted from ``label_base``, ``n_in``, ``n_hidden``, ``n_out``,
  ``m``, ``l2``); an empty ``args`` reads them off the function's parameter names (``NAMES``);
- picks the gradients at the place ``returns`` names (``loss,grads``; empty: a ``(scalar, vector)``
  pair is ``(J, grad)`` when the parameters are flat, anything else is the gradients);
- unpacks them back into the container it received, with the same shapes, so the parent compares
  and diagnoses them as it does every other layout. A gradient of the wrong size is an error that
  says how many numbers were expected. A function that writes into its unrolled vector (a view
  ``Theta1 = nn_params[:k].reshape(...)`` then ``Theta1[:, 0] = 0``) has it written back into the
  arrays it received, so the parent names the mutation.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

# what a parameter name stands for (lower case), when no --args is given
NAMES = {"params": ("nn_params", "params", "theta", "thetas", "nn_theta", "parameters", "weights", "w"),
         "n_in": ("input_layer_size", "input_size", "n_in", "n_input", "n_x", "input_dim", "n_features"),
         "n_hidden": ("hidden_layer_size", "hidden_size", "n_hidden", "n_h", "hidden_dim"),
         "n_out": ("num_labels", "output_layer_size", "output_size", "n_out", "n_y", "num_classes", "k"),
         "X": ("x",),
         "y": ("y", "labels"),
         "m": ("m",),
         "l2": ("lambda_", "lambda", "_lambda", "lmbda", "lambd", "lamda", "lam", "reg", "reg_lambda", "l2")}
TOKENS = tuple(NAMES) + ("Y", "y_column")


def _pairs(params: Any) -> tuple[list, str]:
    """The received container as ``[(W, b or None), ...]`` and its kind ("dict" or "pairs")."""
    if isinstance(params, dict):
        k = sum(1 for key in params if key[:1] == "W" and key[1:].isdigit())
        return [(params[f"W{i}"], params.get(f"b{i}")) for i in range(1, k + 1)], "dict"
    out = []
    for item in params:
        out.append((item[0], item[1]) if isinstance(item, (tuple, list)) else (item, None))
    return out, "pairs"


def _layer_arrays(W: np.ndarray, b: np.ndarray | None, pack: dict) -> list[np.ndarray]:
    if b is None:
        return [W]
    if not pack.get("bias_first"):
        return [W, b]
    if pack.get("weights") == "in_out":  # W: (n_in, n_out); the bias is the first row
        return [np.concatenate([b.reshape(1, -1), W], axis=0)]
    return [np.concatenate([b.reshape(-1, 1), W], axis=1)]


def _layer_back(arrays: list[np.ndarray], W: np.ndarray, b: np.ndarray | None, pack: dict) -> tuple:
    """A layer's user arrays (Theta, or W and b) back to ``(W, b)`` shaped as received."""
    if b is None:
        return arrays[0], None
    if not pack.get("bias_first"):
        return arrays[0], arrays[1].reshape(b.shape)
    theta = arrays[0]
    if pack.get("weights") == "in_out":
        return theta[1:, :], theta[0, :].reshape(b.shape)
    return theta[:, 1:], theta[:, 0].reshape(b.shape)


def _user_params(pairs: list, pack: dict) -> tuple[Any, list[np.ndarray]]:
    """The parameters as the user's code takes them (one vector, or a list of Thetas) and their arrays."""
    arrays = [a for W, b in pairs for a in _layer_arrays(np.asarray(W), None if b is None else np.asarray(b), pack)]
    if pack.get("flat"):
        return np.concatenate([a.ravel(order=pack.get("order", "C")) for a in arrays]), arrays
    return arrays, arrays


def _split(value: Any, shapes: list[tuple], pack: dict, what: str) -> list[np.ndarray]:
    """A returned flat gradient (or list of Theta gradients) as arrays of ``shapes``."""
    sizes = [int(np.prod(s)) for s in shapes]
    if pack.get("flat") and isinstance(value, (list, tuple)) and len(value) == len(shapes) > 1:
        pack = dict(pack, flat=False)  # one gradient per array (grad1, grad2), not unrolled
    if pack.get("flat"):
        v = np.asarray(value)
        if v.size != sum(sizes) or (v.ndim > 1 and sorted(v.shape)[:-1] != [1] * (v.ndim - 1)):
            raise ValueError(f"{what} returned a gradient of shape {v.shape}; the unrolled parameters have "
                             f"{sum(sizes)} numbers ({', '.join(str(s) for s in shapes)} unrolled)")
        v = v.reshape(-1)
        out, start = [], 0
        for shape, size in zip(shapes, sizes):
            out.append(v[start:start + size].reshape(shape, order=pack.get("order", "C")))
            start += size
        return out
    if not isinstance(value, (list, tuple)) or len(value) != len(shapes):
        raise ValueError(f"{what} returned {type(value).__name__}; expected a list of {len(shapes)} gradients "
                         f"shaped {', '.join(str(s) for s in shapes)}")
    out = []
    for i, (a, shape) in enumerate(zip(value, shapes), start=1):
        a = np.asarray(a)
        if a.shape != shape:
            raise ValueError(f"{what}: gradient {i} has shape {a.shape}; the parameter has shape {shape}")
        out.append(a)
    return out


def _signature(fn: Any, pack: dict) -> list[str]:
    """What each positional parameter of ``fn`` is (``TOKENS``), from --args or from its names."""
    if pack.get("args"):
        return list(pack["args"])
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return ["params", "X", "Y"]
    if len(params) <= 3 and all(p.default is p.empty for p in params):
        return ["params", "X", "Y"][:len(params)] or ["params", "X", "Y"]
    out = []
    for p in params:
        what = next((t for t, names in NAMES.items() if p.name.lower() in names), None)
        if p.name == "Y":
            what = "Y"
        if what is None:
            if p.default is not p.empty:
                break
            raise TypeError(f"cannot tell what the parameter {p.name!r} of {getattr(fn, '__name__', 'the function')} "
                            f"is: declare the arguments with --args (e.g. --args params,n_in,n_hidden,n_out,X,y,l2)")
        out.append(what)
    return out


def packed_function(fn: Any, pack: dict) -> Any:
    """``fn`` called as ``fn(params, X, Y)`` receiving the parent's convention (see the module docstring)."""
    name = getattr(fn, "__name__", "the function")
    tokens = _signature(fn, pack)
    returns = list(pack.get("returns") or [])

    packed = bool(pack.get("flat") or pack.get("bias_first"))

    def call(params: Any, X: Any, Y: Any) -> Any:
        pairs, kind = _pairs(params)
        user, arrays = _user_params(pairs, pack) if packed else (params, [])
        before = [a.copy() for a in arrays] if not pack.get("flat") else np.array(user)
        shapes = [a.shape for a in arrays]
        X = np.asarray(X)
        m = X.shape[0] if pack.get("rows", True) else X.shape[-1]
        widths = [np.asarray(pairs[0][0]).shape[0 if pack.get("weights") == "in_out" else 1]]
        widths += [np.asarray(W).shape[1 if pack.get("weights") == "in_out" else 0] for W, _ in pairs]
        values = {"params": user, "X": X, "Y": Y, "n_in": widths[0], "n_out": widths[-1], "m": m,
                  "l2": pack.get("l2", 0.0)}
        if "n_hidden" in tokens:
            if len(widths) != 3:
                raise TypeError(f"{name} takes one hidden layer size; the network has {len(widths) - 2} hidden layers "
                                "(declare --depth 2)")
            values["n_hidden"] = widths[1]
        base = int(pack.get("label_base", 0))
        if base and np.ndim(Y) == 1:  # Y holds the labels themselves (--targets labels)
            values["Y"] = np.asarray(Y) + base
        if "y" in tokens or "y_column" in tokens:
            Ya = np.asarray(Y)
            labels = Ya if Ya.ndim == 1 else np.argmax(Ya, axis=1 if pack.get("rows", True) else 0)
            values["y"] = labels.astype(np.int64) + base
            values["y_column"] = values["y"][:, None]  # (m, 1), as Octave's and loadmat's y
        out = fn(*(values[t] for t in tokens))
        if len(returns) > 1:
            if not isinstance(out, (tuple, list)) or len(out) != len(returns):
                raise TypeError(f"{name} returned {type(out).__name__}, declared --returns {','.join(returns)}")
            picked = [o for o, r in zip(out, returns) if r == "grads"]
            out = picked[0] if len(picked) == 1 else picked  # grads named once per Theta: their list
        elif not returns and pack.get("flat") and isinstance(out, (tuple, list)) and len(out) == 2 \
                and np.ndim(out[0]) == 0:
            out = out[1]  # (J, grad)
        if not packed:  # only the signature or the return is the user's own: the container is the parent's
            return out
        grads = _split(out, shapes, pack, name)
        after = _split(user, shapes, pack, name) if pack.get("flat") else arrays
        changed = not all(np.array_equal(a, b) for a, b in zip(after, _split(before, shapes, pack, name)
                                                               if pack.get("flat") else before))
        back, i = [], 0
        for W, b in pairs:
            n = 1 if b is None or pack.get("bias_first") else 2
            back.append(_layer_back(grads[i:i + n], np.asarray(W), None if b is None else np.asarray(b), pack))
            if changed:  # the function wrote into its parameters: the parent sees it on the arrays it sent
                Wn, bn = _layer_back(after[i:i + n], np.asarray(W), None if b is None else np.asarray(b), pack)
                W[...] = Wn
                if b is not None:
                    b[...] = bn
            i += n
        if kind == "dict":
            return {f"d{p}{layer}": a for layer, (dW, db) in enumerate(back, start=1)
                    for p, a in (("W", dW), ("b", db)) if a is not None}
        return [(dW, db) if db is not None else dW for dW, db in back]

    call.__name__ = name
    return call
