"""A fresh set of student implementations, written independently of crosscheck's mistake catalogue.

``STUDENTS`` maps a name to a ``Student``: the TARGET, the flags it is checked with, the
mistake a teacher would name (``None`` for correct code) and where the mistake shows
(``distinct`` dimensions, a ``square`` W, ``m_width`` m equal to a width, a ``kink``, a
``repeat``-ed call, a ``mutation`` of the inputs, or ``dtype``). ``tests/test_students.py``
verifies each against torch.autograd in float64 and runs the set through ``crosscheck check``,
writing the confusion table ``tests/students/CONFUSION.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Student:
    target: str
    options: dict
    expected: str | None
    shows_on: str = "distinct"


DLAI = {"preset": "deeplearning.ai"}  # columns / out_in / column / dict; relu, sigmoid, bce, mean
TORCH = {"preset": "torch", "hidden": "tanh", "output": "identity", "loss": "half_sse", "reduction": "mean"}
CS231N = {"batch": "rows", "weights": "in_out", "bias": "vector", "params": "dict", "hidden": "relu",
          "output": "identity", "loss": "softmax_ce", "reduction": "mean"}
NIELSEN = {"preset": "nielsen"}  # single / out_in / column / pairs; sigmoid, half_sse, sum
OO = {"preset": "seed003"}  # rows / in_out / row / dict; tanh, sigmoid, bce, mean
LOOPS = {"batch": "columns", "weights": "in_out", "bias": "vector", "params": "pairs", "hidden": "elu",
         "output": "identity", "loss": "half_sse", "reduction": "sum"}
LEAKY = {**LOOPS, "hidden": "leaky_relu"}
CS231N_REG = {**CS231N, "l2": 0.1, "penalty_form": "half"}  # fc_net.py: 0.5 reg sum W^2
CS231N_L1 = {**CS231N, "l1": 0.05, "penalty_form": "half"}  # a book's l1/2 sum |w|
DLAI_REG = {**DLAI, "l2": 0.7, "penalty_form": "half_over_m"}  # lambd / (2 m) sum W^2
HELD = {"preset": "torch", "output": "identity", "loss": "half_sse", "reduction": "mean"}

STUDENTS: dict[str, Student] = {
    # ---- correct, in eight conventions ----
    "course_correct": Student("students.course:backward_correct", DLAI, None),
    "einsum_correct": Student("students.rows_einsum:backprop", TORCH, None),
    "cs231n_correct": Student("students.cs231n_dict:loss_and_grads", CS231N, None),
    "nielsen_correct": Student("students.nielsen:backprop", NIELSEN, None),
    "oo_correct": Student("students.layers_oo:backward", OO, None),
    "loops_correct": Student("students.loops:backprop_elu", LOOPS, None),
    "homogeneous_correct": Student("students.seeds:homogeneous", {"preset": "seed000", "hidden": "tanh"}, None),
    "relu_prime_0_is_1": Student("students.seeds:readout_relu", {"preset": "seed002"}, None),
    "course_with_dA_entries": Student("students.course:L_model_backward", DLAI, None),
    "fc_net_l2_correct": Student("students.regularized:fc_net_reg", CS231N_REG, None),
    "dlai_l2_correct": Student("students.regularized:backward_propagation_with_regularization", DLAI_REG, None),
    # ---- one mistake each ----
    "course_sigmoid_of_A": Student("students.course:backward_sigmoid_of_cache_A", DLAI, "activation_derivative"),
    "course_db_not_summed": Student("students.course:backward_db_not_summed", DLAI, "bias_not_reduced"),
    "course_off_by_one": Student("students.course:backward_off_by_one", DLAI, "unreached_layer"),
    "course_no_mean": Student("students.course:backward_no_mean", DLAI, "scale"),
    "course_mean_twice": Student("students.course:backward_mean_twice", DLAI, "scale"),
    "course_returns_updated": Student("students.course:backward_returns_updated", DLAI, "returns_parameters"),
    "course_W_not_transposed": Student("students.course:backward_W_not_transposed", DLAI,
                                       "no_transpose_in_backprop", "square"),
    "einsum_tanh_missing_square": Student("students.rows_einsum:tanh_missing_square", TORCH,
                                          "activation_derivative"),
    "einsum_tanh_prime_of_A": Student("students.rows_einsum:tanh_prime_of_activation", TORCH,
                                      "activation_derivative"),
    "einsum_mse_every_entry": Student("students.rows_einsum:mse_over_every_entry", TORCH, "loss"),
    "einsum_sign": Student("students.rows_einsum:residual_sign", TORCH, "sign"),
    "einsum_bias_over_units": Student("students.rows_einsum:bias_summed_over_units", TORCH, "bias_not_reduced"),
    "einsum_dW_in_out": Student("students.rows_einsum:dW_in_out", TORCH, "transposed"),
    "einsum_factor_two": Student("students.rows_einsum:squared_error_factor_two", TORCH, "scale"),
    "einsum_hidden_prime_forgotten": Student("students.rows_einsum:hidden_prime_forgotten", TORCH,
                                             "missing_activation_derivative"),
    "einsum_layout_guessing": Student("students.rows_einsum:layout_guessing", TORCH, "no_transpose_in_backprop",
                                      "square"),
    "einsum_running_sums": Student("students.rows_einsum:running_sums", TORCH, "stateful", "repeat"),
    "cs231n_relu_times_h": Student("students.cs231n_dict:relu_backward_times_h", CS231N, "activation_derivative"),
    "cs231n_no_division": Student("students.cs231n_dict:no_division_by_N", CS231N, "scale"),
    "cs231n_dW_orientation": Student("students.cs231n_dict:dW_as_dscores_T_h", CS231N, "transposed"),
    "cs231n_relu_mask_ge": Student("students.cs231n_dict:relu_mask_ge", CS231N, "kink_convention", "kink"),
    "cs231n_integer_buffers": Student("students.cs231n_dict:integer_buffers", CS231N, "dtype", "dtype"),
    "nielsen_outer_reversed": Student("students.nielsen:outer_product_reversed", NIELSEN, "transposed"),
    "nielsen_cost_flipped": Student("students.nielsen:cost_derivative_flipped", NIELSEN, "sign"),
    "nielsen_prime_is_value": Student("students.nielsen:sigmoid_prime_is_sigmoid", NIELSEN, "activation_derivative"),
    "nielsen_output_prime_forgotten": Student("students.nielsen:output_prime_forgotten", NIELSEN,
                                              "missing_activation_derivative"),
    "nielsen_collected_backwards": Student("students.nielsen:collected_backwards", NIELSEN, "layer_order"),
    "nielsen_float32": Student("students.nielsen:single_precision", NIELSEN, "dtype", "dtype"),
    "oo_bce_through_sigmoid": Student("students.layers_oo:bce_through_sigmoid_twice", OO, "loss"),
    "oo_tanh_copied_from_sigmoid": Student("students.layers_oo:tanh_backward_copied_from_sigmoid", OO,
                                           "activation_derivative"),
    "oo_steps_in_place": Student("students.layers_oo:steps_inside_backward", OO, "mutates_inputs", "mutation"),
    "oo_bias_averaged_again": Student("students.layers_oo:bias_averaged_again", OO, "scale"),
    "loops_elu_prime_value": Student("students.loops:elu_prime_negative_value", LOOPS, "activation_derivative"),
    "loops_leaky_slope": Student("students.loops:leaky_slope_mismatch", LEAKY, "activation_derivative"),
    "loops_overwrites": Student("students.loops:overwrites_instead_of_accumulating", LOOPS, "single_sample"),
    "loops_batch_axis_by_size": Student("students.loops:batch_axis_by_size", LOOPS, "bias_not_reduced", "m_width"),
    "loops_unrolled_theta": Student("students.loops:unrolled_theta", LOOPS, "vec_order"),
    "reg_gradient_forgotten": Student("students.regularized:fc_net_reg_forgotten", CS231N_REG, "regularization"),
    "reg_doubled": Student("students.regularized:fc_net_reg_doubled", CS231N_REG, "regularization"),
    "reg_biases_too": Student("students.regularized:fc_net_reg_biases_too", CS231N_REG, "regularization"),
    "reg_undeclared": Student("students.regularized:fc_net_undeclared_reg", CS231N, "regularization"),
    "reg_l1_twice": Student("students.regularized:fc_net_l1_book", CS231N_L1, "regularization"),
    "reg_without_m": Student("students.regularized:backward_regularization_without_m", DLAI_REG, "regularization"),
    "targets_argmax": Student("students.regularized:fc_net_argmax_targets", CS231N, "loss"),
    # held out (tests/students/heldout.py): written after the diagnosis was frozen, kept whatever it said
    "held_sigmoid_prime_plus": Student("students.heldout:sigmoid_prime_plus", {**HELD, "hidden": "sigmoid"},
                                       "activation_derivative"),
    "held_tanh_prime_of_z": Student("students.heldout:tanh_prime_of_z_squared", {**HELD, "hidden": "tanh"},
                                    "activation_derivative"),
    "held_leaky_as_relu": Student("students.heldout:leaky_backward_as_relu", {**HELD, "hidden": "leaky_relu"},
                                  "activation_derivative"),
    "held_output_bias_zero": Student("students.heldout:output_bias_left_at_zero", {**HELD, "hidden": "tanh"},
                                     "unreached_layer"),
    "held_sign_and_no_mean": Student("students.heldout:sign_and_no_mean", {**HELD, "hidden": "tanh"}, "sign"),
    "held_softplus_prime": Student("students.heldout:softplus_prime_as_exp", {**HELD, "hidden": "softplus"},
                                   "activation_derivative"),
}
