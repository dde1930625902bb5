"""The audit table's claims, each checked on the installed torch and JAX.

Every row the audit produces is a claim (what each spelling computes there); a claim that stops
being true is a finding, so `test_no_claim_is_false` fails on it. The kink table that the sweep's
triage reads, every documented convention and every default are also checked one by one here.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("jax")

from crosscheck.audit.defaults import default_probes  # noqa: E402
from crosscheck.audit.probes import close, run_audit  # noqa: E402
from crosscheck.audit.table import CONVENTIONS  # noqa: E402
from crosscheck.model import kinks  # noqa: E402


@pytest.fixture(scope="module")
def audit():
    return run_audit()


def test_no_claim_is_false(audit):
    findings = [f"{r.key}: {r.detail}" for r in audit.findings]
    assert not findings, "\n".join(findings)
    assert len(audit.rows) > 400 and audit.known


def test_every_issue_difference_is_listed(audit):
    """The differences named in issue 14, each found on these versions with its convention."""
    by = {}
    for r in audit.all_rows:
        for c in r.conventions:
            by.setdefault(c, []).append(r)
    for cid in ("gelu-approximate", "maximum-tie", "clamp-bound-inside", "abs-sign", "softplus-threshold",
                "bce-log-clamp", "batchnorm-momentum", "layernorm-eps"):
        if cid in ("batchnorm-momentum", "layernorm-eps") and any("flax" in u for u in audit.unavailable):
            continue
        assert by.get(cid), f"{cid} not observed"
    gelu = next(r for r in audit.defaults if r.function == "gelu")
    assert (gelu.torch, gelu.jax, gelu.status) == ("none", "True", "known")


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_every_documented_convention_shows_on_these_versions(audit, convention):
    """A convention nothing shows is a stale claim (probes._stale makes it a finding as well)."""
    if convention in ("batchnorm-momentum", "batchnorm-running-var", "layernorm-eps", "groupnorm-eps") and \
            any(u.startswith(("batch_norm", "layer_norm", "group_norm")) for u in audit.unavailable):
        pytest.skip("flax not installed")
    if convention in ("optax-l2-half", "loss-reduction") and any("optax" in u for u in audit.unavailable):
        pytest.skip("optax not installed")
    assert any(convention in r.conventions and r.status == "known" for r in audit.all_rows)


@pytest.mark.parametrize("entry", kinks.KINK_CONVENTIONS, ids=lambda c: f"{c.expression}@{c.kink:g}")
def test_kink_table_entry_is_what_the_library_computes(audit, entry):
    """crosscheck.model.kinks (read by the sweep's triage and check's diagnosis) against the
    derivative the installed library returns exactly at the kink, in both dtypes."""
    seen = []
    for r in audit.rows:
        expr = r.torch_expr if entry.library == "torch" else r.jax_expr
        if expr == entry.expression and r.aspect == "derivative" and r.point == "kink" and \
                r.inputs == f"x = {entry.kink:g}":
            got = r.torch if entry.library == "torch" else r.jax
            assert close(got, entry.subgradient, r.dtype), (r.key, got, entry.subgradient)
            seen.append(r.dtype)
    assert sorted(seen) == ["float32", "float64"], f"{entry.expression} at {entry.kink} is not probed"


@pytest.mark.parametrize("probe", default_probes(), ids=lambda d: f"{d.function}.{d.parameter}.{d.jax_where}")
def test_every_default_is_read_from_the_signature_and_explained(audit, probe):
    rows = [r for r in audit.defaults if (r.function, r.parameter, r.jax_where) ==
            (probe.function, probe.parameter, probe.jax_where)]
    if not rows:
        pytest.skip(f"{probe.requires} not installed")
    (row,) = rows
    assert not str(row.torch).startswith("unreadable") and not str(row.jax).startswith("unreadable")
    assert row.status == ("known" if probe.convention else "agree"), row


def test_import_of_the_audit_package_stays_light():
    import subprocess
    import sys

    code = ("import crosscheck.audit, crosscheck.model.kinks, crosscheck.sweep.triage, sys; "
            "print(' '.join(m for m in ('torch', 'jax', 'flax', 'optax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu"])
def test_the_sweeps_natives_take_the_kink_tables_subgradients(name):
    """The natives the sweep's backends build (crosscheck.model.activations) take, at the kink, the
    subgradient the kink table records for that library's canonical spelling; the reference's
    own choice is torch's."""
    import jax
    import numpy as np
    import torch

    from crosscheck.model.activations import ACTIVATIONS

    act = ACTIVATIONS[name]
    canonical = {c.library: c for c in reversed(kinks.KINK_CONVENTIONS) if c.function == name}
    t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    act.torch(torch)(t).sum().backward()
    with jax.enable_x64(True):
        g = float(jax.grad(lambda v: act.jax(jax)(v).sum())(np.zeros(1))[0])
    assert t.grad.item() == canonical["torch"].subgradient
    assert g == canonical["jax"].subgradient
    assert act.at_kink[0] == canonical["torch"].subgradient
