"""The fresh layer set (issue 18): each file, the layer it gets wrong (None: a correct file), the
--dropout-p it is written for, and the diagnosis ids that name its mistake right.

Written before the diagnosis was changed, as students and published solutions write layers.py, of kinds
not planted in tests/implementations/layers_mistakes.py; each verified against torch.autograd in float64
by ``verify_torch.py`` in this folder. ``benchmarks/fresh_layers_confusion.py`` measures the layer check
on it."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))

# file stem: (layer, dropout_p, ids that name the mistake right)
FRESH = {
    "bn_alt_no_eps": ("batchnorm_alt", "keep", ("eps_missing_in_backward",)),
    "relu_mask_from_dout": ("relu", "keep", ("relu_mask_on_dout",)),
    "bn_keepdims_dgamma": ("batchnorm", "keep", ("keepdims_param_grad",)),
    "affine_db_keepdims": ("affine", "keep", ("keepdims_param_grad",)),
    "conv_backward_ignores_stride": ("conv", "keep", ("conv_stride_ignored",)),
    "conv_dx_cropped_top_left": ("conv", "keep", ("pad_cropped_top_left",)),
    "conv_im2col_order": ("conv", "keep", ("im2col_order",)),
    "pool_argmax_wrong_dim": ("max_pool", "keep", ("pool_argmax_unravel",)),
    "layernorm_reshape_not_transpose": ("layernorm", "keep", ("reshape_not_transpose",)),
    "bn_dgamma_from_centered": ("batchnorm", "keep", ("dgamma_from_centered",)),
    "svm_label_minus_one": ("svm_loss", "keep", ("svm_label_term",)),
    "svm_label_count_whole_batch": ("svm_loss", "keep", ("svm_label_term",)),
    "bn_test_batch_stats": ("batchnorm", "keep", ("test_mode_batch_stats",)),
    "bn_test_no_gamma_beta": ("batchnorm", "keep", ("test_mode_no_affine",)),
    "bn_test_no_eps": ("batchnorm", "keep", ("test_mode_eps_missing",)),
    "sbn_test_batch_stats": ("spatial_batchnorm", "keep", ("test_mode_batch_stats",)),
    "pool_window_offset_missing": ("max_pool", "keep", ("pool_window_offset",)),
    "conv_dw_assigned": ("conv", "keep", ("accumulated_by_assignment",)),
    "relu_dx_without_dout": ("relu", "keep", ("dout_not_used",)),
    "softmax_over_batch": ("softmax_loss", "keep", ("softmax_wrong_axis",)),
    "bn_running_var_std": ("batchnorm", "keep", ("running_stats",)),
    "conv_forward_stride_ignored": ("conv", "keep", ("conv_stride_ignored",)),
    "dropout_test_scaled": ("dropout", "keep", ("dropout_test_mode",)),
    "layernorm_dgamma_over_features": ("layernorm", "keep", ("not_reduced_over_n",)),
}
CORRECT = {"correct_graph": "keep", "correct_vectorised": "drop"}


def path(stem: str) -> str:
    return os.path.join(HERE, stem + ".py")
