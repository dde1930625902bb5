"""Andrew Ng's Machine Learning ex4 (nnCostFunction) ported to Python with separate biases.

rows/out_in/vector/dict: Theta1 -> W1 (hidden, n), b1 (hidden,), Theta2 -> W2 (K, hidden), b2 (K,);
sigmoid everywhere, cost -1/m * sum(y log h + (1-y) log(1-h)) over samples and the K outputs
(Y (m, K) one-hot 0/1), plus lambda/(2m) * sum(Theta^2) over the weights only. lambda = 1.
"""
import numpy as np

lam = 1.0


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoidGradient(z):
    g = sigmoid(z)
    return g * (1 - g)


def nnCostFunction(params, X, Y):
    """Correct."""
    Theta1, b1, Theta2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    a1 = X
    z2 = a1 @ Theta1.T + b1
    a2 = sigmoid(z2)
    z3 = a2 @ Theta2.T + b2
    a3 = sigmoid(z3)
    d3 = a3 - Y
    d2 = (d3 @ Theta2) * sigmoidGradient(z2)
    Theta2_grad = d3.T @ a2 / m + (lam / m) * Theta2
    Theta1_grad = d2.T @ a1 / m + (lam / m) * Theta1
    return {"W1": Theta1_grad, "b1": d2.sum(axis=0) / m,
            "W2": Theta2_grad, "b2": d3.sum(axis=0) / m}


def reg_grad_over_2m(params, X, Y):
    Theta1, b1, Theta2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    a1 = X
    z2 = a1 @ Theta1.T + b1
    a2 = sigmoid(z2)
    z3 = a2 @ Theta2.T + b2
    a3 = sigmoid(z3)
    d3 = a3 - Y
    d2 = (d3 @ Theta2) * sigmoidGradient(z2)
    Theta2_grad = d3.T @ a2 / m + (lam / (2 * m)) * Theta2
    Theta1_grad = d2.T @ a1 / m + (lam / (2 * m)) * Theta1
    return {"W1": Theta1_grad, "b1": d2.sum(axis=0) / m,
            "W2": Theta2_grad, "b2": d3.sum(axis=0) / m}


def output_delta_times_sigmoid_gradient(params, X, Y):
    Theta1, b1, Theta2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    a1 = X
    z2 = a1 @ Theta1.T + b1
    a2 = sigmoid(z2)
    z3 = a2 @ Theta2.T + b2
    a3 = sigmoid(z3)
    d3 = (a3 - Y) * sigmoidGradient(z3)
    d2 = (d3 @ Theta2) * sigmoidGradient(z2)
    Theta2_grad = d3.T @ a2 / m + (lam / m) * Theta2
    Theta1_grad = d2.T @ a1 / m + (lam / m) * Theta1
    return {"W1": Theta1_grad, "b1": d2.sum(axis=0) / m,
            "W2": Theta2_grad, "b2": d3.sum(axis=0) / m}
