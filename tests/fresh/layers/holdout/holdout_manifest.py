"""A hold-out of the fresh layer set: six mistakes written after the layer diagnosis was changed,
with no catalogue entry written for them, to see how the diagnosis does on slips it was not shaped by.
Ground truth: ``python tests/fresh/layers/verify_torch.py --holdout``. Measured by
``benchmarks/fresh_layers_confusion.py --holdout``: caught, and whether the first diagnosis names the
output and how it departs (anything but a bare ``wrong_values``)."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))

# stem: (layer, dropout_p, ids that would name the mistake right, if any)
HOLDOUT = {
    "bn_dvar_no_half": ("batchnorm", "keep", ()),
    "sbn_dx_reshape_back": ("spatial_batchnorm", "keep", ("reshape_not_transpose",)),
    "conv_db_mean": ("conv", "keep", ("scale", "db_not_summed")),
    "dropout_backward_times_p": ("dropout", "keep", ("scale",)),
    "layernorm_dx_no_mean_term": ("layernorm", "keep", ("mean_path_missing",)),
    "affine_dw_from_out": ("affine", "keep", ("reshape_not_transpose", "reshaped")),
}
