"""Two-layer MLPs as blog posts write them ("neural network from scratch in NumPy")."""
import numpy as np


def _relu(z):
    return np.maximum(0, z)


def regression_backprop(params, X, Y):
    """Correct. rows/in_out/vector/dict, relu hidden, linear output, loss 0.5*mean over samples of
    the squared error summed over outputs."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = _relu(Z1)
    Y_hat = A1 @ W2 + b2
    dY = (Y_hat - Y) / m
    dW2 = A1.T @ dY
    db2 = dY.sum(axis=0)
    dZ1 = (dY @ W2.T) * (Z1 > 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": dW2, "b2": db2}


def relu_derivative_overwrites_cache(params, X, Y):
    """Same network; relu_derivative works in place on the cached A1."""
    def relu_derivative(x):
        x[x <= 0] = 0
        x[x > 0] = 1
        return x

    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = _relu(Z1)
    Y_hat = A1 @ W2 + b2
    dY = (Y_hat - Y) / m
    dZ1 = (dY @ W2.T) * relu_derivative(A1)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0),
            "W2": A1.T @ dY, "b2": dY.sum(axis=0)}


def relu_prime_returns_relu(params, X, Y):
    """rows/in_out/vector/pairs, relu hidden, linear output, 0.5 * sum of squared errors."""
    def relu_prime(x):
        return np.maximum(0, x)

    (W1, b1), (W2, b2) = params
    Z1 = X @ W1 + b1
    A1 = _relu(Z1)
    Y_hat = A1 @ W2 + b2
    dY = Y_hat - Y
    dZ1 = (dY @ W2.T) * relu_prime(Z1)
    return [(X.T @ dZ1, dZ1.sum(axis=0)), (A1.T @ dY, dY.sum(axis=0))]


def onehot_np_mean(params, X, Y):
    """rows/in_out/vector/dict, relu hidden, softmax; loss = -np.mean(Y * np.log(P)) with one-hot
    Y, and the gradient derived from that line."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    Z1 = X @ W1 + b1
    A1 = _relu(Z1)
    Z2 = A1 @ W2 + b2
    P = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dZ2 = (P - Y) / Y.size
    dZ1 = (dZ2 @ W2.T) * (Z1 > 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0), "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0)}


def columns_sse_first_layer_missing_m(params, X, Y):
    """columns/out_in/column/dict, sigmoid both layers, 0.5 * sum of squares averaged over m."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[1]
    A1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = (A2 - Y) * A2 * (1 - A2)
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * A1 * (1 - A1)
    dW1 = dZ1 @ X.T
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def columns_labels_whole_row(params, X, y):
    """columns/out_in/column/dict, relu hidden, softmax cross-entropy with integer labels y (m,)."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.maximum(0, Z1)
    Z2 = W2 @ A1 + b2
    P = np.exp(Z2 - Z2.max(axis=0))
    P = P / P.sum(axis=0)
    dZ2 = P.copy()
    dZ2[y] -= 1
    dZ2 /= m
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return {"dW1": dZ1 @ X.T, "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": dZ2.sum(axis=1, keepdims=True)}
