"""The held-out network set: its manifest.

Written by the hold-out engineer without reading crosscheck's diagnosis code, its catalogue or the
earlier fresh/student sets, so that scoring the diagnosis on it is a held-out measurement.
Each entry: ``name``, ``target`` (FILE:FUNCTION for ``crosscheck check``), ``flags`` (what a user
would declare), ``correct`` (True for the correct ones), ``mistake`` (the plain-words description,
written before crosscheck was run on the set) and ``expected`` (the diagnosis ids that name the
mistake right, mapped after the set was committed; empty for correct ones).

Plain data only: the sandbox imports ``tests.holdout.network.*`` modules, never crosscheck.
"""
from __future__ import annotations

_N = "tests/holdout/network/"


def _net(batch: str, weights: str, bias: str, params: str, hidden: str, output: str, loss: str,
         reduction: str, targets: str | None = None, depth: int | None = None) -> list[str]:
    flags = ["--batch", batch, "--weights", weights, "--bias", bias, "--params", params,
             "--hidden", hidden, "--output", output, "--loss", loss, "--reduction", reduction]
    if targets:
        flags += ["--targets", targets]
    if depth:
        flags += ["--depth", str(depth)]
    return flags


CS231N = ["--preset", "cs231n", "--l2", "0.05"]
CS231N_FC = ["--preset", "cs231n-fc", "--l2", "0.1"]
DLAI = ["--preset", "deeplearning.ai"]
DLAI_REG = ["--preset", "deeplearning.ai", "--l2", "0.7", "--depth", "3"]
NIELSEN = ["--preset", "nielsen"]
TORCH_CE = ["--preset", "torch", "--hidden", "tanh", "--output", "identity", "--loss", "softmax_ce",
            "--targets", "labels", "--reduction", "mean"]
TORCH_MSE = ["--preset", "torch", "--hidden", "sigmoid", "--output", "identity", "--loss",
             "half_sse", "--reduction", "mean_all"]
NNFS = _net("rows", "in_out", "row", "pairs", "relu", "identity", "softmax_ce", "mean", "labels", 2)
KARPATHY = _net("rows", "in_out", "row", "dict", "tanh", "identity", "softmax_ce", "mean", "labels",
                2) + ["--l2", "0.001", "--penalty-form", "half"]
D2L = _net("rows", "in_out", "vector", "pairs", "relu", "identity", "softmax_ce", "mean",
           "labels") + ["--l2", "0.01", "--penalty-form", "half"]
NG = _net("rows", "out_in", "vector", "dict", "sigmoid", "sigmoid", "bce", "mean", "binary",
          2) + ["--l2", "1.0", "--penalty-form", "half_over_m"]
TRASK = _net("rows", "in_out", "none", "dict", "sigmoid", "sigmoid", "half_sse", "sum", None, 2)
COLUMNS = _net("columns", "out_in", "column", "pairs", "tanh", "identity", "softmax_ce", "mean",
               "onehot")
PHUNC20 = ["--preset", "phunc20", "--targets", "binary", "--depth", "2"]
BLOG_REGRESSION = _net("rows", "in_out", "vector", "dict", "relu", "identity", "half_sse", "mean",
                       None, 2)
BLOG_SSE_PAIRS = _net("rows", "in_out", "vector", "pairs", "relu", "identity", "half_sse", "sum",
                      None, 2)
BLOG_ONEHOT = _net("rows", "in_out", "vector", "dict", "relu", "identity", "softmax_ce", "mean",
                   "onehot", 2)
BLOG_COLS_SSE = _net("columns", "out_in", "column", "dict", "sigmoid", "sigmoid", "half_sse", "mean",
                     None, 2)
BLOG_COLS_LABELS = _net("columns", "out_in", "column", "dict", "relu", "identity", "softmax_ce",
                        "mean", "labels", 2)


def _e(name: str, target: str, flags: list[str], mistake: str | None,
       expected: tuple[str, ...] = ()) -> dict:
    return {"name": name, "target": _N + target, "flags": list(flags), "correct": mistake is None,
            "mistake": mistake or "", "expected": tuple(expected)}


NETWORK = [
    # --- correct implementations -------------------------------------------------------------
    _e("cs231n_two_layer", "cs231n_two_layer.py:loss_grads", CS231N, None),
    _e("cs231n_fc_net", "cs231n_fc_net.py:loss_grads", CS231N_FC, None),
    _e("dlai_l_layer", "dlai_l_layer.py:backprop", DLAI, None),
    _e("dlai_regularization", "dlai_regularization.py:backward_propagation_with_regularization",
       DLAI_REG, None),
    _e("nielsen", "nielsen.py:backprop", NIELSEN, None),
    _e("torch_style_ce", "torch_style.py:backprop", TORCH_CE, None),
    _e("torch_style_mse", "torch_style.py:mse_backprop", TORCH_MSE, None),
    _e("nnfs", "nnfs_style.py:backprop", NNFS, None),
    _e("karpathy", "karpathy_style.py:backprop", KARPATHY, None),
    _e("d2l", "d2l_style.py:backprop", D2L, None),
    _e("ng_ex4", "ng_ex4.py:nnCostFunction", NG, None),
    _e("trask", "trask_style.py:backprop", TRASK, None),
    _e("columns_softmax", "columns_softmax.py:backprop", COLUMNS, None),
    _e("blog_regression", "blog_mlps.py:regression_backprop", BLOG_REGRESSION, None),
    _e("phunc20", "phunc20_style.py:backprop", PHUNC20, None),
    # --- wrong implementations ---------------------------------------------------------------
    _e("cs231n_reg_twice", "cs231n_two_layer.py:reg_twice", CS231N,
       "loss has 0.5*reg*sum(W*W) but the gradient adds 2*reg*W (twice the regularisation "
       "gradient) to both weights"),
    _e("cs231n_reg_on_bias", "cs231n_two_layer.py:reg_on_bias", CS231N,
       "regularisation gradient reg*b also added to both bias gradients (the loss regularises "
       "weights only)"),
    _e("cs231n_dW2_before_divide", "cs231n_two_layer.py:dW2_before_divide", CS231N,
       "dW2 and db2 computed from dscores before dscores /= N: the output layer's data gradient "
       "misses the 1/N (N times too large); the hidden layer is right"),
    _e("cs231n_divides_dW2_twice", "cs231n_two_layer.py:divides_dW2_twice", CS231N,
       "dW2's data term divided by N a second time (dscores already divided): extra 1/N on the "
       "output weights only (not on b2, not on the reg term)"),
    _e("cs231n_centers_X_in_place", "cs231n_two_layer.py:centers_X_in_place", CS231N,
       "X -= mean(X) inside the loss: mutates the caller's X in place and computes the gradient of "
       "the zero-centred data"),
    _e("cs231n_2017_reg_full", "cs231n_two_layer.py:reg_full_form_half_grad",
       CS231N + ["--penalty-form", "full"],
       "2017-19 loss reg*sum(W*W) (no 0.5) but gradient reg*W: regularisation gradient half of "
       "what it should be"),
    _e("fcnet_reg_loop_short", "cs231n_fc_net.py:reg_loop_short", CS231N_FC,
       "off-by-one: regularisation loop range(1, num_layers) skips the last layer, so the output "
       "weights get no reg*W term"),
    _e("fcnet_relu_on_scores", "cs231n_fc_net.py:relu_on_scores", CS231N_FC,
       "off-by-one: affine-relu loop runs over every layer, so a relu is applied to the scores too "
       "(forward and backward consistent: the gradient of a relu output layer)"),
    _e("dlai_dAL_sign_slip", "dlai_l_layer.py:dAL_sign_slip", DLAI,
       "dAL = -(Y/AL + (1-Y)/(1-AL)): sign slip, + where - belongs in the BCE derivative"),
    _e("dlai_db_over_units", "dlai_l_layer.py:db_summed_over_units", DLAI,
       "db = 1/m * sum(dZ, axis=0, keepdims=True): summed over units instead of samples (shape "
       "(1, m) instead of (n_l, 1)) in every layer"),
    _e("dlai_sigmoid_backward_hidden", "dlai_l_layer.py:sigmoid_backward_in_hidden_layers", DLAI,
       "hidden layers' backward calls sigmoid_backward though the forward used relu (copy-paste "
       "of the output layer's activation): wrong activation derivative in every hidden layer"),
    _e("dlai_reg_without_over_m", "dlai_regularization.py:reg_without_over_m", DLAI_REG,
       "L2 gradient lambd*W instead of (lambd/m)*W: the regularisation gradient misses its 1/m"),
    _e("nielsen_sigma_prime_of_a", "nielsen.py:sigmoid_prime_of_activation", NIELSEN,
       "output delta uses sigmoid_prime(activations[-1]): the derivative evaluated at the "
       "activation a instead of at z (output layer only)"),
    _e("nielsen_own_activation_in_loop", "nielsen.py:own_activation_in_loop", NIELSEN,
       "in the hidden-layer loop nabla_w[-l] = delta . activations[-l]^T (the layer's own output) "
       "instead of activations[-l-1] (its input): wrong cached activation, wrong shape"),
    _e("nielsen_loop_stops_early", "nielsen.py:loop_stops_early", NIELSEN,
       "off-by-one: for l in range(2, num_layers - 1): the first layer's nabla_w and nabla_b are "
       "never filled and stay zero"),
    _e("nielsen_ce_delta_quadratic", "nielsen.py:cross_entropy_delta_with_quadratic_cost", NIELSEN,
       "output delta = (a - y) without sigmoid_prime(z) (network2's cross-entropy delta) while "
       "the cost is the quadratic one: the gradient of sigmoid + BCE"),
    _e("torch_dW_transposed", "torch_style.py:weight_grad_transposed", TORCH_CE,
       "dW = x^T . delta, an (in, out) gradient for an (out, in) weight: transposed in every layer"),
    _e("torch_db_mean", "torch_style.py:bias_grad_mean", TORCH_CE,
       "db = delta.mean(axis=0) where delta already holds the 1/m: bias gradients m times too "
       "small in every layer"),
    _e("torch_mse_batch_only", "torch_style.py:mse_divides_by_batch_only", TORCH_MSE,
       "loss 0.5*mean over every element (nn.MSELoss-style) but dL/dy_hat = (y_hat - y)/m: divides "
       "by the batch only, not by the number of outputs (K times too large)"),
    _e("nnfs_no_divide_samples", "nnfs_style.py:no_divide_by_samples", NNFS,
       "softmax-CE combined backward without dinputs / samples: loss is the mean but the gradient "
       "is the sum's (m times too large)"),
    _e("nnfs_stale_dinputs", "nnfs_style.py:dense1_gets_dense2_dinputs", NNFS,
       "stale variable: dense1.backward(dense2.dinputs) instead of activation1.dinputs, so the "
       "relu derivative never reaches the first layer"),
    _e("karpathy_tanh_twice", "karpathy_style.py:tanh_applied_twice", KARPATHY,
       "dhidden *= 1 - tanh(hidden)**2 where hidden is already tanh(z): tanh derivative evaluated "
       "at the activation (tanh applied twice)"),
    _e("d2l_weight_decay_over_batch", "d2l_style.py:weight_decay_over_batch", D2L,
       "weight-decay gradient lambd*W/m (divided by the batch size like the data term): L2 "
       "gradient m times too small"),
    _e("ng_reg_over_2m", "ng_ex4.py:reg_grad_over_2m", NG,
       "regularisation gradient (lambda/(2m))*Theta copied from the cost: half the right L2 "
       "gradient"),
    _e("ng_output_sigmoid_gradient", "ng_ex4.py:output_delta_times_sigmoid_gradient", NG,
       "d3 = (a3 - y) .* sigmoidGradient(z3): an extra sigmoid derivative at the output with the "
       "cross-entropy cost (the squared-error formula)"),
    _e("trask_deriv_of_z", "trask_style.py:deriv_of_preactivation", TRASK,
       "hidden delta uses nonlin(z1, deriv=True) = z1*(1-z1): the output-form sigmoid derivative "
       "applied to the pre-activation (hidden layer only)"),
    _e("trask_returns_update", "trask_style.py:returns_the_update", TRASK,
       "returns l1.T.dot(l2_delta) with l2_error = y - l2, the update direction: every gradient has "
       "the wrong sign"),
    _e("columns_m_from_rows", "columns_softmax.py:batch_size_from_rows", COLUMNS,
       "m = X.shape[0] in column layout: divides by n_in (the number of features) instead of the "
       "batch size"),
    _e("columns_softmax_as_sigmoid", "columns_softmax.py:softmax_derivative_as_sigmoid", COLUMNS,
       "softmax derivative taken element-wise as P*(1-P) (like a sigmoid) applied to dL/dP = "
       "-Y/P/m, instead of the softmax Jacobian: output delta -(Y(1-P))/m"),
    _e("blog_relu_derivative_in_place", "blog_mlps.py:relu_derivative_overwrites_cache",
       BLOG_REGRESSION,
       "relu_derivative(A1) writes 0/1 into the cached A1 in place; dW2 = A1.T @ dY computed "
       "afterwards uses the 0/1 mask instead of the activation (output weights wrong)"),
    _e("blog_relu_prime_is_relu", "blog_mlps.py:relu_prime_returns_relu", BLOG_SSE_PAIRS,
       "relu_prime(x) returns max(0, x) (the function, not its derivative): the hidden delta is "
       "multiplied by z instead of by the 0/1 step"),
    _e("blog_onehot_np_mean", "blog_mlps.py:onehot_np_mean", BLOG_ONEHOT,
       "loss -np.mean(Y*log P) averages over samples and classes; gradient (P - Y)/Y.size: K "
       "times too small for the declared mean over samples"),
    _e("blog_cols_sse_first_layer_m", "blog_mlps.py:columns_sse_first_layer_missing_m",
       BLOG_COLS_SSE,
       "typo in one layer: dW1 = dZ1 @ X.T without the /m (db1 and layer 2 have it)"),
    _e("blog_cols_labels_whole_row", "blog_mlps.py:columns_labels_whole_row", BLOG_COLS_LABELS,
       "dZ2[y] -= 1 instead of dZ2[y, arange(m)] -= 1 in column layout: subtracts 1 from the "
       "whole class row (every sample) for each label"),
    _e("phunc20_tanh_sech", "phunc20_style.py:tanh_derivative_sech", PHUNC20,
       "tanh derivative written 1/cosh(z) (sech), the square left out"),
    _e("phunc20_db2_missing_m", "phunc20_style.py:output_bias_missing_m", PHUNC20,
       "typo in one parameter: db2 = sum(dZ2) without the /m (dW2 and layer 1 have it)"),
]

# The diagnosis ids that name each mistake right, mapped AFTER the set above was committed (from the
# ids in docs/teaching.md and the FINDINGS of crosscheck/diagnosis/catalogue.py), before crosscheck
# was run on the set. An empty tuple: no id means that mistake (see NO_ID_FITS).
EXPECTED = {
    "cs231n_reg_twice": ("regularization",),
    "cs231n_reg_on_bias": ("regularization",),
    "cs231n_dW2_before_divide": ("scale",),
    "cs231n_divides_dW2_twice": ("scale",),
    "cs231n_centers_X_in_place": ("mutates_inputs",),
    "cs231n_2017_reg_full": ("regularization",),
    "fcnet_reg_loop_short": ("regularization",),
    "fcnet_relu_on_scores": ("activation", "activation_derivative"),
    "dlai_dAL_sign_slip": ("output_gradient",),
    "dlai_db_over_units": ("bias_not_reduced",),
    "dlai_sigmoid_backward_hidden": ("activation_derivative",),
    "dlai_reg_without_over_m": ("regularization",),
    "nielsen_sigma_prime_of_a": ("activation_derivative",),
    "nielsen_own_activation_in_loop": ("layer_order", "cached_activation"),
    "nielsen_loop_stops_early": ("unreached_layer",),
    "nielsen_ce_delta_quadratic": ("loss", "missing_activation_derivative"),
    "torch_dW_transposed": ("transposed",),
    "torch_db_mean": ("scale",),
    "torch_mse_batch_only": ("loss", "scale"),
    "nnfs_no_divide_samples": ("scale", "loss"),
    "nnfs_stale_dinputs": ("missing_activation_derivative",),
    "karpathy_tanh_twice": ("activation_derivative",),
    "d2l_weight_decay_over_batch": ("regularization",),
    "ng_reg_over_2m": ("regularization",),
    "ng_output_sigmoid_gradient": ("loss", "activation_derivative", "output_gradient"),
    "trask_deriv_of_z": ("activation_derivative",),
    "trask_returns_update": ("sign",),
    "columns_m_from_rows": ("scale", "batch_size"),
    "columns_softmax_as_sigmoid": ("output_gradient",),
    "blog_relu_derivative_in_place": ("cached_activation",),
    "blog_relu_prime_is_relu": ("activation_derivative",),
    "blog_onehot_np_mean": ("loss", "scale"),
    "blog_cols_sse_first_layer_m": ("scale",),
    "blog_cols_labels_whole_row": ("output_gradient",),
    "phunc20_tanh_sech": ("activation_derivative",),
    "phunc20_db2_missing_m": ("scale",),
}
# a mistake no catalogue id or finding described when the set was measured: the cached activation A1
# overwritten by the relu derivative's 0/1 mask (a local, not an input), so dW2 = mask^T . dY. The lead added
# the finding ``cached_activation`` after that measurement (crosscheck.diagnosis.operands) and named it here
# then: with those two ids added, this set is no longer held out for them (docs/measurements.md says so).
NO_ID_FITS: tuple[str, ...] = ()

for _entry in NETWORK:
    if not _entry["correct"]:
        _entry["expected"] = EXPECTED[_entry["name"]]
assert set(EXPECTED) == {e["name"] for e in NETWORK if not e["correct"]}

# The closest twin of each mistake's KIND in the sets the diagnosis was tuned on (tests/fresh, tests/students),
# judged from those entries' names and expected ids only (their code was not read), AFTER the held-out set
# was committed and measured: the held-out instances are new, but many kinds are not. None: no twin seen.
TWIN = {
    "cs231n_reg_twice": "students/reg_doubled",
    "cs231n_reg_on_bias": "students/reg_biases_too",
    "cs231n_dW2_before_divide": None,            # a factor m on one layer only
    "cs231n_divides_dW2_twice": None,            # a factor 1/m on one term of one parameter
    "cs231n_centers_X_in_place": "students/oo_steps_in_place",
    "cs231n_2017_reg_full": "students/reg_doubled",
    "fcnet_reg_loop_short": None,                # the penalty missing on one layer only
    "fcnet_relu_on_scores": "fresh/cs231n_relu_on_scores",
    "dlai_dAL_sign_slip": "fresh/dlai_dAL_plus_typo",
    "dlai_db_over_units": "students/einsum_bias_over_units",
    "dlai_sigmoid_backward_hidden": "fresh/dlai_sigmoid_backward_in_hidden",
    "dlai_reg_without_over_m": "students/reg_without_m",
    "nielsen_sigma_prime_of_a": "students/course_sigmoid_of_A",
    "nielsen_own_activation_in_loop": None,      # the layer's own activation where its input belongs
    "nielsen_loop_stops_early": "students/course_off_by_one",
    "nielsen_ce_delta_quadratic": "fresh/nielsen_cross_entropy_delta",
    "torch_dW_transposed": "students/cs231n_dW_orientation",
    "torch_db_mean": "students/oo_bias_averaged_again",
    "torch_mse_batch_only": "students/einsum_mse_every_entry",
    "nnfs_no_divide_samples": "students/cs231n_no_division",
    "nnfs_stale_dinputs": "students/einsum_hidden_prime_forgotten",
    "karpathy_tanh_twice": "students/einsum_tanh_prime_of_A",
    "d2l_weight_decay_over_batch": None,         # an extra 1/m on the penalty's gradient
    "ng_reg_over_2m": None,                      # the penalty's gradient halved (the cost's 1/(2m) copied)
    "ng_output_sigmoid_gradient": "fresh/dlai_half_sse_gradient",
    "trask_deriv_of_z": None,                    # the A-form derivative A(1-A) evaluated at Z
    "trask_returns_update": "students/nielsen_cost_flipped",
    "columns_m_from_rows": "fresh/dlai_hardcoded_batch_size",
    "columns_softmax_as_sigmoid": "fresh/cs231n_softmax_jacobian_diagonal",
    "blog_relu_derivative_in_place": None,       # a cached activation overwritten by the derivative's mask
    "blog_relu_prime_is_relu": "students/cs231n_relu_times_h",
    "blog_onehot_np_mean": "students/einsum_mse_every_entry",
    "blog_cols_sse_first_layer_m": None,         # a factor m on one parameter of one layer
    "blog_cols_labels_whole_row": "fresh/cs231n_missing_arange",
    "phunc20_tanh_sech": "fresh/rows_sech_not_squared",
    "phunc20_db2_missing_m": None,               # a factor m on one bias only
}
assert set(TWIN) == set(EXPECTED)
