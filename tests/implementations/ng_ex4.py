"""Andrew Ng's Machine Learning course, ex4 ``nnCostFunction``, written the way the Python ports write it
(my own code, not copied from a port).

``nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_)`` returns
``(J, grad)``: ``nn_params`` is Theta1 ``(hidden, input + 1)`` and Theta2 ``(num_labels, hidden + 1)``
unrolled, each with the bias as its FIRST column; ``X: (m, input)``; ``y: (m,)`` labels; sigmoid hidden
and output; J = 1/m sum_i sum_k [-y_k log h_k - (1 - y_k) log(1 - h_k)] + lambda/(2m) sum of the
Thetas' squares without their bias columns; ``grad`` unrolled the same way.

- ``nnCostFunction``: a NumPy port, row order (``ravel()`` / ``reshape``), labels 0..K-1.
- ``nnCostFunction_octave``: an Octave-faithful port, column order (``order="F"``, as ``Theta(:)``),
  labels 1..K (``y == k`` for k = 1..K).

Wrong twins, one mistake each, as students make them:

- ``regularises_bias``: the bias column is regularised too (``Theta1`` instead of ``Theta1[:, 1:]``);
- ``no_mean``: the gradient is not divided by m (``Delta`` returned as it is);
- ``sigmoid_grad_at_activation``: ``sigmoidGradient(a2)`` instead of ``sigmoidGradient(z2)``;
- ``mutates_params``: the bias column is zeroed on a view of ``nn_params`` (the caller's vector).

Verified against torch.autograd in float64 in tests/test_flat_params.py.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoidGradient(z):  # noqa: N802 - the course's name
    g = sigmoid(z)
    return g * (1 - g)


def _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_, *, order="C", base=0,
         mistake=None):
    n1 = hidden_layer_size * (input_layer_size + 1)
    Theta1 = np.reshape(nn_params[:n1], (hidden_layer_size, input_layer_size + 1), order=order)
    Theta2 = np.reshape(nn_params[n1:], (num_labels, hidden_layer_size + 1), order=order)
    m = X.shape[0]

    a1 = np.concatenate([np.ones((m, 1)), X], axis=1)
    z2 = a1 @ Theta1.T
    a2 = np.concatenate([np.ones((m, 1)), sigmoid(z2)], axis=1)
    z3 = a2 @ Theta2.T
    h = sigmoid(z3)

    y_matrix = np.zeros((m, num_labels))
    y_matrix[np.arange(m), np.asarray(y) - base] = 1

    J = (-y_matrix * np.log(h) - (1 - y_matrix) * np.log(1 - h)).sum() / m
    J += lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))

    delta3 = h - y_matrix
    if mistake == "sigmoid_grad_at_activation":
        delta2 = (delta3 @ Theta2)[:, 1:] * sigmoidGradient(a2[:, 1:])
    else:
        delta2 = (delta3 @ Theta2)[:, 1:] * sigmoidGradient(z2)
    Delta1 = delta2.T @ a1
    Delta2 = delta3.T @ a2

    divisor = 1 if mistake == "no_mean" else m
    Theta1_grad = Delta1 / divisor
    Theta2_grad = Delta2 / divisor
    if mistake == "regularises_bias":
        Theta1_grad += lambda_ / m * Theta1
        Theta2_grad += lambda_ / m * Theta2
    elif mistake == "mutates_params":
        Theta1[:, 0] = 0  # a view of nn_params: the caller's vector changes
        Theta2[:, 0] = 0
        Theta1_grad += lambda_ / m * Theta1
        Theta2_grad += lambda_ / m * Theta2
    else:
        Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]
        Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]

    grad = np.concatenate([Theta1_grad.ravel(order=order), Theta2_grad.ravel(order=order)])
    return J, grad


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):  # noqa: N802
    return _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_)


def nnCostFunction_octave(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):  # noqa: N802
    return _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_, order="F", base=1)


def regularises_bias(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    return _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_,
                mistake="regularises_bias")


def no_mean(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    return _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_, mistake="no_mean")


def sigmoid_grad_at_activation(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    return _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_,
                mistake="sigmoid_grad_at_activation")


def mutates_params(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    return _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_,
                mistake="mutates_params")


def flat_backprop(params, X, Y):
    """The same network as ``fn(params, X, Y)``: params the flat vector (row order), Y one-hot rows (m, K),
    lambda 1; the sizes read off X and Y (one hidden layer: its width from the vector's length)."""
    m, n_in = X.shape
    K = Y.shape[1]
    hidden = (params.size - K) // (n_in + 1 + K)
    return _ex4(params, n_in, hidden, K, X, np.argmax(Y, axis=1), 1.0)[1]


def nnCostFunction_split(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):  # noqa: N802
    """Octave's y, an (m, 1) column of labels 1..K, and the two gradients returned apart: (J, grad1, grad2)."""
    J, grad = _ex4(nn_params, input_layer_size, hidden_layer_size, num_labels, X, np.asarray(y)[:, 0],
                   lambda_, base=1)
    n1 = hidden_layer_size * (input_layer_size + 1)
    return (J, grad[:n1].reshape(hidden_layer_size, input_layer_size + 1),
            grad[n1:].reshape(num_labels, hidden_layer_size + 1))
