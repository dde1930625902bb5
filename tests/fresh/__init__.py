"""A fresh, held-out set of network-level implementations (issue 18): 37 mistakes of kinds not in
``tests/students`` or ``tests/implementations`` and 19 correct implementations in many conventions.

``FRESH`` maps a name to a ``Fresh``: the TARGET (relative to ``tests/``), the flags it is declared
with, the diagnosis ids a teacher would accept, first the one expected (``()`` for correct code), and
its ground truth for ``tests/fresh/verify.py``: ``truth``, the declaration under which the code is
exactly right (another network, another convention), or ``fix``, the repair that makes it right
(``keys+1``: keys renamed dW0 -> dW1; ``swap``: (db, dW) -> (dW, db); ``m64``: right at batch size 64;
``dict``: right when read as a dict of gradients).
``benchmarks/fresh_confusion.py`` runs ``crosscheck check`` on each and tabulates the verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fresh:
    target: str
    options: dict
    expected: tuple[str, ...] = ()
    truth: dict | None = None  # flags under which the code is exactly right
    activations: tuple[str, ...] | None = None  # per-layer activations of the truth, where flags cannot say it
    fix: str = ""
    shows_on: tuple[str, ...] = field(default=("distinct",))


DLAI = {"preset": "deeplearning.ai"}
CS231N = {"preset": "cs231n"}
NIELSEN = {"preset": "nielsen"}
TORCH = {"preset": "torch", "hidden": "tanh", "output": "identity", "loss": "half_sse", "reduction": "mean"}
COLS = {"batch": "columns", "weights": "out_in", "bias": "vector", "params": "pairs", "output": "identity",
        "loss": "half_sse", "reduction": "sum"}
ROWS_IN_OUT = {"batch": "rows", "weights": "in_out", "bias": "vector", "params": "pairs"}

N = "fresh/network/"
C = "fresh/correct/"

MISTAKES: dict[str, Fresh] = {
    # ---- deeplearning.ai L_model_backward ----
    "dlai_half_sse_gradient": Fresh(N + "dlai_style.py:half_sse_gradient", DLAI, ("loss",),
                                    truth={**DLAI, "loss": "half_sse", "targets": "soft"}),
    "dlai_sigmoid_backward_in_hidden": Fresh(N + "dlai_style.py:sigmoid_backward_in_hidden", DLAI,
                                             ("activation_derivative",)),
    "dlai_dAL_typo": Fresh(N + "dlai_style.py:dAL_typo", DLAI, ("output_gradient",)),
    "dlai_dAL_plus_typo": Fresh(N + "dlai_style.py:dAL_plus_typo", DLAI, ("output_gradient",)),
    "dlai_keys_from_zero": Fresh(N + "dlai_style.py:keys_from_zero", DLAI, ("key_offset",), fix="keys+1"),
    "dlai_hardcoded_batch_size": Fresh(N + "dlai_style.py:hardcoded_batch_size", DLAI, ("batch_size",), fix="m64"),
    "dlai_relu_mask_from_dA": Fresh(N + "dlai_style.py:relu_mask_from_dA", DLAI, ("activation_derivative",)),
    "dlai_relu_after_the_matmul": Fresh(N + "dlai_style.py:relu_after_the_matmul", DLAI,
                                        ("missing_activation_derivative", "activation_derivative")),
    "dlai_pairs_in_dict_out": Fresh(N + "dlai_style.py:pairs_in_dict_out", {**DLAI, "params": "pairs"},
                                    ("convention",), fix="dict"),
    # ---- CS231n TwoLayerNet ----
    "cs231n_probs_over_N": Fresh(N + "cs231n_style.py:probs_over_N", CS231N, ("output_gradient",)),
    "cs231n_labels_broadcast": Fresh(N + "cs231n_style.py:labels_broadcast", CS231N, ("output_gradient",)),
    "cs231n_softmax_over_samples": Fresh(N + "cs231n_style.py:softmax_over_samples", CS231N, ("output_gradient",)),
    "cs231n_max_wrong_axis": Fresh(N + "cs231n_style.py:max_wrong_axis", CS231N, ("output_gradient",)),
    "cs231n_log_probs_without_exp": Fresh(N + "cs231n_style.py:log_probs_without_exp", CS231N,
                                          ("output_gradient",)),
    "cs231n_missing_arange": Fresh(N + "cs231n_style.py:missing_arange", CS231N, ("output_gradient",)),
    "cs231n_relu_on_scores": Fresh(N + "cs231n_style.py:relu_on_scores", CS231N, ("activation",),
                                   truth={**CS231N, "output": "relu"}),
    "cs231n_dscores_masked": Fresh(N + "cs231n_style.py:dscores_masked", CS231N, ("activation_derivative",)),
    "cs231n_softmax_jacobian_diagonal": Fresh(N + "cs231n_style.py:softmax_jacobian_diagonal", CS231N,
                                              ("output_gradient",)),
    "cs231n_declared_out_in": Fresh(N + "cs231n_style.py:loss", {**CS231N, "weights": "out_in"}, ("convention",),
                                    truth=CS231N, shows_on=("distinct", "square")),
    "cs231n_declared_columns": Fresh(N + "cs231n_style.py:loss", {**CS231N, "batch": "columns"}, ("convention",),
                                     truth=CS231N, shows_on=("distinct", "square")),
    # ---- Nielsen network.py ----
    "nielsen_cross_entropy_delta": Fresh(N + "nielsen_style.py:cross_entropy_delta", NIELSEN, ("loss",),
                                         truth={**NIELSEN, "loss": "bce"}),
    "nielsen_prime_one_plus": Fresh(N + "nielsen_style.py:prime_one_plus", NIELSEN, ("activation_derivative",)),
    "nielsen_prime_mixed": Fresh(N + "nielsen_style.py:prime_mixed", NIELSEN, ("activation_derivative",)),
    "nielsen_prime_sigmoid_of_minus": Fresh(N + "nielsen_style.py:prime_sigmoid_of_minus", NIELSEN,
                                            ("activation_derivative",)),
    "nielsen_zipped_b_first": Fresh(N + "nielsen_style.py:zipped_b_first", NIELSEN, ("swapped",), fix="swap"),
    "nielsen_declared_columns": Fresh(N + "nielsen_style.py:backprop", {**NIELSEN, "batch": "columns"},
                                      ("convention", "bias_not_reduced"), truth=NIELSEN),
    # ---- rows, torch layout ----
    "rows_tanh_on_output": Fresh(N + "rows_numpy.py:tanh_on_output", TORCH, ("activation",),
                                 truth={**TORCH, "output": "tanh"}),
    "rows_sigmoid_hidden": Fresh(N + "rows_numpy.py:sigmoid_hidden", TORCH, ("activation",),
                                 truth={**TORCH, "hidden": "sigmoid"}),
    "rows_sech_not_squared": Fresh(N + "rows_numpy.py:sech_not_squared", TORCH, ("activation_derivative",)),
    "rows_tanh_prime_square_misplaced": Fresh(N + "rows_numpy.py:tanh_prime_square_misplaced", TORCH,
                                              ("activation_derivative",)),
    "rows_output_relu_mask": Fresh(N + "rows_numpy.py:output_relu_mask", TORCH, ("activation_derivative",)),
    "rows_first_layer_relu": Fresh(N + "rows_numpy.py:first_layer_relu", TORCH, ("activation",),
                                   truth=TORCH, activations=("relu",)),
    "rows_returns_dict": Fresh(N + "rows_numpy.py:returns_dict", TORCH, ("convention",), fix="dict"),
    # ---- columns, pairs ----
    "cols_softplus_prime_of_minus": Fresh(N + "columns_misc.py:softplus_prime_of_minus",
                                          {**COLS, "hidden": "softplus"}, ("activation_derivative",)),
    "cols_leaky_slope_times_z": Fresh(N + "columns_misc.py:leaky_slope_times_z", {**COLS, "hidden": "leaky_relu"},
                                      ("activation_derivative",)),
    "cols_relu_for_leaky": Fresh(N + "columns_misc.py:relu_for_leaky", {**COLS, "hidden": "leaky_relu"},
                                 ("activation",), truth={**COLS, "hidden": "relu"}),
    "cols_declared_dict": Fresh(N + "columns_misc.py:backprop_tanh", {**COLS, "hidden": "tanh", "params": "dict"},
                                ("convention",), truth={**COLS, "hidden": "tanh"}),
}

CORRECT: dict[str, Fresh] = {
    "dlai_L_model_backward": Fresh(C + "course_styles.py:dlai_L_model_backward", DLAI),
    "dlai_l2": Fresh(C + "course_styles.py:dlai_two_layer_l2", {**DLAI, "l2": 0.7}),
    "dlai_softmax_onehot": Fresh(C + "course_styles.py:dlai_softmax_onehot",
                                 {**DLAI, "output": "identity", "loss": "softmax_ce", "targets": "onehot"}),
    "cs231n_two_layer": Fresh(C + "course_styles.py:cs231n_two_layer", CS231N),
    "cs231n_fc_net_reg": Fresh(C + "course_styles.py:cs231n_fc_net", {"preset": "cs231n-fc", "l2": 0.1}),
    "nielsen_backprop": Fresh(C + "course_styles.py:nielsen_backprop", NIELSEN),
    "nielsen_cross_entropy": Fresh(C + "course_styles.py:nielsen_cross_entropy", {**NIELSEN, "loss": "bce"}),
    "nnfs_network": Fresh(C + "other_styles.py:nnfs_network",
                          {"batch": "rows", "weights": "in_out", "bias": "row", "params": "pairs", "hidden": "relu",
                           "output": "identity", "loss": "softmax_ce", "targets": "labels", "reduction": "mean"}),
    "torch_layout_tanh": Fresh(C + "other_styles.py:torch_layout_tanh", TORCH),
    "torch_mse_default": Fresh(C + "other_styles.py:torch_mse_default",
                               {**TORCH, "hidden": "sigmoid", "loss": "sse", "reduction": "mean_all"}),
    "einsum_leaky_sse": Fresh(C + "other_styles.py:einsum_leaky_sse",
                              {**TORCH, "hidden": "leaky_relu", "loss": "sse", "reduction": "sum"}),
    "loop_elu": Fresh(C + "other_styles.py:loop_elu",
                      {"batch": "columns", "weights": "in_out", "bias": "vector", "params": "pairs", "hidden": "elu",
                       "output": "identity", "loss": "half_sse", "reduction": "sum"}),
    "no_bias_rows": Fresh(C + "other_styles.py:no_bias_rows",
                          {**ROWS_IN_OUT, "bias": "none", "hidden": "tanh", "output": "identity",
                           "loss": "half_sse", "reduction": "mean"}),
    "softplus_columns": Fresh(C + "other_styles.py:softplus_columns", {**COLS, "hidden": "softplus"}),
    "oo_sigmoid_bce": Fresh(C + "other_styles.py:oo_sigmoid_bce",
                            {"batch": "rows", "weights": "in_out", "bias": "vector", "params": "dict",
                             "hidden": "sigmoid", "output": "sigmoid", "loss": "bce", "targets": "binary",
                             "reduction": "mean"}),
    "cs231n_base": Fresh(N + "cs231n_style.py:loss", CS231N),
    "nielsen_base": Fresh(N + "nielsen_style.py:backprop", NIELSEN),
    "rows_base": Fresh(N + "rows_numpy.py:backprop", TORCH),
    "cols_tanh_base": Fresh(N + "columns_misc.py:backprop_tanh", {**COLS, "hidden": "tanh"}),
}

FRESH: dict[str, Fresh] = {**MISTAKES, **CORRECT}
