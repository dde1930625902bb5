"""The reference routes as laws: four formula routes agree, the numeric oracles agree within
their documented accuracy, the structural routes stay within memory, and a planted mistake
breaks the agreement law."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from _draw import law_cases, random_params
from hypothesis import find, given, settings

from crosscheck.errors import UsageError
from crosscheck.model.case import Case
from crosscheck.model.network import Network
from crosscheck.reference import explicit, get_route, jacobian, kronecker, numeric, route_names
from crosscheck.reference.forward import loss_value

FORMULA_ROUTES = ("recursive", "explicit", "kronecker", "jacobian")
RTOL = 1e-10  # the agreement bound in float64; measured worst 2.5e-15
FLOAT32_RTOL = 1e-4  # float32 vs the float64 truth: measured worst 1.4e-6 over 2,000 networks
LAWS = settings(max_examples=60, deadline=None, database=None)


def _blocks(grads):
    for layer, (dW, db) in enumerate(grads, start=1):
        yield f"dW{layer}", dW
        yield f"db{layer}", db


def assert_routes_agree(case_or_network, params=None, X=None, Y=None, routes=FORMULA_ROUTES, *,
                        rtol: float = RTOL, reference: str = "recursive", dtype=None) -> None:
    """Every route's gradients equal the reference route's, block by block, normwise relative.

    Takes a ``Case`` or ``(network, params, X, Y)`` in canonical layout. Structure first (layers,
    shapes, bias present or None), then values:
    ``||g - ref|| <= rtol * max(||g||, ||ref||) + 1e-14 * ||ref_total||`` (the small absolute
    floor only matters for blocks that cancel to ~0). ``dtype``: the dtype every route returns."""
    if isinstance(case_or_network, Case):
        network, params, X, Y = case_or_network.network, case_or_network.params, case_or_network.X, \
            case_or_network.Y
    else:
        network = case_or_network
    expected = get_route(reference)(network, params, X, Y)
    total = np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for _, a in _blocks(expected)
                        if a is not None))
    for route in routes:
        got = get_route(route)(network, params, X, Y)
        assert len(got) == len(expected), f"{route}: {len(got)} layers, expected {len(expected)}"
        for (name, g), (_, e) in zip(_blocks(got), _blocks(expected)):
            assert (g is None) == (e is None), f"{route}: {name} is {g!r}, reference has {e!r}"
            if e is None:
                continue
            assert g.shape == e.shape, f"{route}: {name} has shape {g.shape}, expected {e.shape}"
            if dtype is not None:
                assert g.dtype == dtype, f"{route}: {name} is {g.dtype}, expected {dtype}"
            g64, e64 = g.astype(np.float64), e.astype(np.float64)
            err = float(np.linalg.norm(g64 - e64))
            bound = rtol * max(float(np.linalg.norm(g64)), float(np.linalg.norm(e64))) + 1e-14 * total
            assert err <= bound, (f"{route} disagrees with {reference} on {name} of "
                                  f"{network.describe()}: |diff| {err:.3g} > {bound:.3g}")


# ---- the agreement law -----------------------------------------------------------------------

def canonical_from_user(case: Case):
    """The case as its convention hands it to a user, converted back to canonical arrays."""
    conv, net = case.convention, case.network
    params_u, X_u, Y_u = case.user_inputs()
    Y = None if Y_u is None else (Y_u.T if conv.batch == "rows" else Y_u)
    return net, conv.params_from_user(params_u, net), conv.x_from_user(X_u, net), Y


@settings(max_examples=100, deadline=None, database=None)
@given(law_cases())
def test_formula_routes_agree_in_float64(case):
    assert_routes_agree(case, dtype=np.float64)
    # and through the case's convention (every batch, weights, bias and params layout)
    assert_routes_agree(*canonical_from_user(case), dtype=np.float64)


@LAWS
@given(law_cases(dtype="float32"))
def test_formula_routes_in_float32_stay_float32_and_near_the_float64_truth(case):
    net = case.network
    for route in ("explicit", "kronecker", "jacobian"):
        got = get_route(route)(net, case.params, case.X, case.Y)
        assert all(a.dtype == np.float32 for _, a in _blocks(got) if a is not None), route
    p64 = tuple((W.astype(np.float64), None if b is None else b.astype(np.float64)) for W, b in case.params)
    Y64 = None if case.Y is None else case.Y.astype(np.float64)
    truth = get_route("recursive")(net, p64, case.X.astype(np.float64), Y64)
    for route in ("explicit", "kronecker", "jacobian"):
        got = get_route(route)(net, case.params, case.X, case.Y)
        flat = np.concatenate([a.ravel() for _, a in _blocks(got) if a is not None]).astype(np.float64)
        ref = np.concatenate([a.ravel() for _, a in _blocks(truth) if a is not None])
        assert np.linalg.norm(flat - ref) <= FLOAT32_RTOL * max(np.linalg.norm(ref), 1e-30), route


def test_every_route_is_registered():
    assert set(route_names()) == {*FORMULA_ROUTES, "finite_difference", "complex_step"}
    assert get_route("explicit") is explicit.gradients
    assert get_route("finite_difference") is numeric.finite_difference


@pytest.mark.parametrize("route", FORMULA_ROUTES)
def test_without_bias_every_db_is_none(route):
    net = Network((3, 5, 2), ("tanh", "identity"), bias=False)
    params, X, Y = random_params(net, 0, 4)
    grads = get_route(route)(net, params, X, Y)
    assert [db for _, db in grads] == [None, None]
    assert [dW.shape for dW, _ in grads] == [(5, 3), (2, 5)]


# ---- the numeric oracles ---------------------------------------------------------------------

@LAWS
@given(law_cases())
def test_finite_differences_agree_within_their_documented_accuracy(case):
    net = case.network
    exact = get_route("recursive")(net, case.params, case.X, case.Y)
    L = loss_value(net, case.params, case.X, case.Y)
    fd = numeric.finite_difference(net, case.params, case.X, case.Y)
    assert numeric.scaled_error(fd, exact, L) <= numeric.FD_TOLERANCE


@LAWS
@given(law_cases())
def test_complex_step_agrees_within_its_documented_accuracy_or_refuses_gelu(case):
    net = case.network
    if "gelu" in net.activation_names():
        with pytest.raises(numeric.OracleNotApplicable, match="gelu"):
            numeric.complex_step(net, case.params, case.X, case.Y)
        return
    exact = get_route("recursive")(net, case.params, case.X, case.Y)
    L = loss_value(net, case.params, case.X, case.Y)
    cs = numeric.complex_step(net, case.params, case.X, case.Y)
    assert numeric.scaled_error(cs, exact, L) <= numeric.CS_TOLERANCE


def test_numeric_oracles_compute_in_float64_from_float32_inputs():
    net = Network((3, 4, 2), ("tanh", "identity"))
    params, X, Y = random_params(net, 1, 3)
    p32 = tuple((W.astype(np.float32), b.astype(np.float32)) for W, b in params)
    for oracle in (numeric.finite_difference, numeric.complex_step):
        grads = oracle(net, p32, X.astype(np.float32), Y.astype(np.float32))
        assert all(a.dtype == np.float64 for _, a in _blocks(grads))


def _relu_net_near_kink(offset: float):
    """A 1-2-1 relu network whose first hidden pre-activation is exactly ``offset`` for x = 1."""
    net = Network((1, 2, 1), ("relu", "identity"), loss="half_sse", bias=True)
    params = ((np.array([[1.0], [0.5]]), np.array([offset - 1.0, 0.3])), (np.array([[0.7, -1.2]]), np.array([0.1])))
    return net, params, np.array([[1.0]]), np.array([[0.4]])


def test_kink_distance_is_the_closest_pre_activation_to_a_kink():
    net, params, X, _ = _relu_net_near_kink(2.5e-4)
    assert numeric.kink_distance(net, params, X) == pytest.approx(2.5e-4, rel=1e-9)
    smooth = Network((1, 2, 1), ("tanh", "identity"))
    assert numeric.kink_distance(smooth, params, X) == np.inf


def test_finite_differences_refuse_inside_the_kink_margin():
    net, params, X, Y = _relu_net_near_kink(0.5 * numeric.KINK_MARGIN)
    with pytest.raises(numeric.OracleNotApplicable, match="kink margin"):
        numeric.finite_difference(net, params, X, Y)


def test_the_kink_margin_is_needed_a_straddling_step_is_wrong():
    # the pre-activation sits half a step from the kink: the central difference averages the
    # two sides of relu and misses the true (one-sided) derivative by far more than its tolerance
    offset = 0.5 * numeric.DEFAULT_STEP
    net, params, X, Y = _relu_net_near_kink(offset)
    exact = get_route("recursive")(net, params, X, Y)
    fd = numeric.finite_difference(net, params, X, Y, kink_margin=0.0)
    L = loss_value(net, params, X, Y)
    assert numeric.scaled_error(fd, exact, L) > 100 * numeric.FD_TOLERANCE
    fine = numeric.finite_difference(*_relu_net_near_kink(2 * numeric.KINK_MARGIN))
    net2, params2, X2, Y2 = _relu_net_near_kink(2 * numeric.KINK_MARGIN)
    exact2 = get_route("recursive")(net2, params2, X2, Y2)
    assert numeric.scaled_error(fine, exact2, loss_value(net2, params2, X2, Y2)) <= numeric.FD_TOLERANCE


def test_complex_step_refuses_exactly_on_a_kink_but_not_near_one():
    net, params, X, Y = _relu_net_near_kink(0.0)
    with pytest.raises(numeric.OracleNotApplicable, match="exactly on a kink"):
        numeric.complex_step(net, params, X, Y)
    net, params, X, Y = _relu_net_near_kink(1e-12)  # off the kink by any amount is fine
    exact = get_route("recursive")(net, params, X, Y)
    assert numeric.scaled_error(numeric.complex_step(net, params, X, Y), exact,
                                loss_value(net, params, X, Y)) <= numeric.CS_TOLERANCE


def test_oracle_refusals_are_value_errors_with_reasons():
    net = Network((2, 3, 1), ("gelu", "identity"))
    params, X, Y = random_params(net, 2, 2)
    with pytest.raises(ValueError, match="gelu is not analytic"):
        numeric.complex_step(net, params, X, Y)
    with pytest.raises(ValueError, match="step must be positive"):
        numeric.finite_difference(net, params, X, Y, step=0.0)


# ---- structure: size guard, chunking, bounded memory -------------------------------------------

def test_jacobian_refuses_a_block_past_its_limit_with_a_clear_message():
    net = Network((30, 40, 20), ("tanh", "identity"))
    params, X, Y = random_params(net, 3, 2)
    entries = jacobian.jacobian_entries(net, 1)
    assert entries == 20 * 40 * 31
    with pytest.raises(jacobian.JacobianTooLarge) as info:
        jacobian.gradients(net, params, X, Y, max_entries=entries - 1)
    assert isinstance(info.value, UsageError)
    message = str(info.value)
    for needle in (f"{entries:,}", "layer 1", "kronecker", "max_entries"):
        assert needle in message
    # at exactly the limit it runs, and agrees
    got = jacobian.gradients(net, params, X, Y, max_entries=entries)
    want = get_route("recursive")(net, params, X, Y)
    for (a, b), (c, d) in zip(got, want):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b, d, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("module", [kronecker, jacobian])
def test_chunking_over_samples_does_not_change_the_result(module):
    net = Network((4, 6, 5, 3), (("relu", "tanh", "sin", "elu", "identity", "sigmoid"), "softplus", "identity"),
                  loss="sse", reduction="mean")
    params, X, Y = random_params(net, 4, 7)
    one_at_a_time = module.gradients(net, params, X, Y, max_entries=1 if module is kronecker else
                                     max(jacobian.jacobian_entries(net, la) for la in (1, 2, 3)))
    all_at_once = module.gradients(net, params, X, Y, max_entries=1 << 30)
    for (a, b), (c, d) in zip(one_at_a_time, all_at_once):
        np.testing.assert_allclose(a, c, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(b, d, rtol=1e-13, atol=1e-15)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_kronecker_memory_is_bounded_by_its_chunk_not_the_batch():
    # width 128, output 128, batch 256: all of P at once would be 256*128*128*8 B = 32 MiB
    net = Network((128, 128, 128, 128), "tanh", loss="half_sse")
    params, X, Y = random_params(net, 5, 256)
    limit = 1 << 16  # P entries per chunk: 512 KiB
    peak = _peak_bytes(lambda: kronecker.gradients(net, params, X, Y, max_entries=limit))
    inputs = 8 * (sum(W.size + b.size for W, b in params) + 2 * 4 * 128 * 256)  # params, Z and A
    assert peak <= 4 * 8 * limit + 3 * inputs, peak


def test_jacobian_memory_is_bounded_by_its_limit_not_the_batch():
    net = Network((64, 64, 64, 8), "tanh", loss="half_sse")
    params, X, Y = random_params(net, 6, 256)
    limit = 1 << 16
    assert jacobian.jacobian_entries(net, 2) <= limit
    peak = _peak_bytes(lambda: jacobian.gradients(net, params, X, Y, max_entries=limit))
    inputs = 8 * (sum(W.size + b.size for W, b in params) + 2 * 4 * 64 * 256)
    assert peak <= 2 * 8 * limit + 3 * inputs, peak


@pytest.mark.parametrize("route", ["explicit", "kronecker", "jacobian"])
def test_no_identity_diagonal_or_dense_kronecker_is_ever_built(route, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"{route} materialised a dense structured matrix")

    for name in ("eye", "identity", "diag", "diagflat", "kron"):
        monkeypatch.setattr(np, name, refuse)
    net = Network((4, 6, 5, 3), ("tanh", ("relu", "sin", "elu", "sigmoid", "identity"), "identity"))
    params, X, Y = random_params(net, 8, 7)
    get_route(route)(net, params, X, Y)


def test_structural_helpers_equal_their_dense_definitions():
    rng = np.random.default_rng(7)
    d, M = rng.normal(size=4), rng.normal(size=(4, 3))
    np.testing.assert_array_equal(kronecker.diag_times(d, M), np.diag(d) @ M)
    np.testing.assert_allclose(kronecker.times_diag(M.T, d), M.T @ np.diag(d))
    row, col = rng.normal(size=5), rng.normal(size=3)
    np.testing.assert_array_equal(kronecker.kron_row_column(row, col), np.kron(row[None, :], col[:, None]))
    rows, cols = rng.normal(size=(6, 5)), rng.normal(size=(6, 3))
    np.testing.assert_allclose(kronecker.sum_kron_row_column(rows, cols),
                               sum(np.kron(r[None, :], c[:, None]) for r, c in zip(rows, cols)))
    J, r = rng.normal(size=(2, 3)), rng.normal(size=4)
    np.testing.assert_array_equal(jacobian.kron_row_identity(J, r), J @ np.kron(r[None, :], np.eye(3)))


# ---- a planted mistake breaks the law ----------------------------------------------------------

def _fixed_cases():
    """Square and non-square networks with curved activations (so sigma' matters)."""
    square = Network((3, 3, 3, 3), ("tanh", "sigmoid", "identity"), loss="half_sse")
    tall = Network((2, 5, 4, 3), ("tanh", "softplus", "identity"), loss="half_sse", reduction="mean")
    for net, seed in ((square, 10), (tall, 11)):
        yield net, *random_params(net, seed, 4)


def test_the_law_holds_on_the_fixed_cases():
    for net, params, X, Y in _fixed_cases():
        assert_routes_agree(net, params, X, Y)


def test_planted_missing_sigma_prime_breaks_the_law(monkeypatch):
    original = explicit.layer_factors

    def no_hidden_sigma_prime(network, params, Z, layer):
        # drop sigma' of every hidden layer (keep the output's)
        factors = original(network, params, Z, layer)
        return factors[:1] + [(op, np.ones_like(M) if op == "hadamard" else M) for op, M in factors[1:]]

    monkeypatch.setattr(explicit, "layer_factors", no_hidden_sigma_prime)
    for net, params, X, Y in _fixed_cases():
        with pytest.raises(AssertionError, match="explicit disagrees"):
            assert_routes_agree(net, params, X, Y)


def test_hypothesis_finds_the_planted_mistake(monkeypatch):
    original = explicit.layer_factors
    monkeypatch.setattr(explicit, "layer_factors", lambda network, params, Z, layer: [
        (op, np.ones_like(M) if op == "hadamard" and i > 0 else M)
        for i, (op, M) in enumerate(original(network, params, Z, layer))])

    def law_fails(case) -> bool:
        try:
            assert_routes_agree(case, routes=("explicit",))
        except AssertionError:
            return True
        return False

    found = find(law_cases(), law_fails, settings=settings(max_examples=500, database=None, deadline=None))
    # the mistake can only show through a hidden layer whose activation is not the identity
    hidden = {n for a in found.network.activations[:-1] for n in ((a,) if isinstance(a, str) else a)}
    assert found.network.depth >= 2 and hidden - {"identity"}, found.describe()


def test_planted_untransposed_weight_breaks_the_law(monkeypatch):
    original = explicit.layer_factors

    def w_instead_of_w_transpose(network, params, Z, layer):
        return [(op, M.T if op == "bullet" else M) for op, M in original(network, params, Z, layer)]

    monkeypatch.setattr(explicit, "layer_factors", w_instead_of_w_transpose)
    net, params, X, Y = next(iter(_fixed_cases()))  # square: the mistake type-checks
    with pytest.raises(AssertionError, match="explicit disagrees"):
        assert_routes_agree(net, params, X, Y)


def test_planted_row_major_vec_breaks_the_law(monkeypatch):
    # reading theta back in row-major order (the classic Vec mistake) transposes dW of a square layer
    monkeypatch.setattr(jacobian, "unvec", lambda v, shape: np.asarray(v).reshape(shape))
    for net, params, X, Y in _fixed_cases():
        with pytest.raises(AssertionError, match="jacobian disagrees"):
            assert_routes_agree(net, params, X, Y)
