"""What a sweep answers: ``SweepResult`` (counts, coverage, the summary table, notes, failures) and
the failure record of a failing example, with the command that replays it and its minimal case.

Separate from ``crosscheck.sweep.run`` because a result is read, serialised and reported (JSON, the
terminal report, the pytest plugin) apart from the search that fills it in; the failure record is
the result's, built from the configuration and the last failing example alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..draws import draw
from ..model.case import Case
from ..model.conventions import Convention
from ..model.network import Network
from .config import SweepConfig

__all__ = ["SweepResult", "failure_report", "minimal_case", "fingerprint", "add_note"]


def fingerprint(net: Network, conv: Convention, m: int, seed: int) -> str:
    """One example's identity: what it checks is a function of this string alone."""
    return f"{net.describe()}|{conv.describe()}|m={m}|seed={seed}"


@dataclass
class SweepResult:
    config: SweepConfig
    passed: bool = True
    cases: int = 0  # compared (network, draw, backend) triples, independent backends only (not numpy)
    draws: int = 0  # (network, parameter draw) pairs
    architectures: int = 0  # distinct networks
    examples: int = 0  # hypothesis examples checked (this shard)
    route_checks: int = 0
    elapsed_s: float = 0.0
    coverage: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # kink-convention and precision findings
    table: dict = field(default_factory=dict)  # (activation, backend) -> {axis value: worst rel}
    fingerprints: list = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    skipped_backends: dict = field(default_factory=dict)
    skipped_routes: dict = field(default_factory=dict)  # route -> examples where it did not apply
    backend_stats: dict = field(default_factory=dict)  # backend -> compile counts (jax: compile_stats())

    def to_dict(self) -> dict:
        from ..output import stamp

        return stamp("sweep", {
            "passed": self.passed,
            "cases": self.cases,
            "draws": self.draws,
            "architectures": self.architectures,
            "examples": self.examples,
            "route_checks": self.route_checks,
            "elapsed_s": round(self.elapsed_s, 4),
            "coverage": self.coverage,
            "failures": self.failures,
            "notes": self.notes,
            "summary": {f"{a}|{b}": cells for (a, b), cells in sorted(self.table.items())},
            "skipped_backends": self.skipped_backends,
            "skipped_routes": self.skipped_routes,
            "backends": self.backend_stats,
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.config).items()},
            "command": self.config.command(),
            "environment": self.environment,
        })

    def report_text(self) -> str:
        from .report import sweep_report

        return sweep_report(self)


def add_note(notes: list, note: dict) -> None:
    """Add a triage note (``crosscheck.sweep.triage``) to ``notes``: float32 rounding notes as one
    per backend (how many, the largest and where), others once each. A note may carry its own
    ``count`` (a job's notes merged into the sweep's)."""
    if note["kind"] == "float32_rounding":
        old = next((n for n in notes if n["kind"] == note["kind"] and n["backend"] == note["backend"]), None)
        if old is None:
            notes.append({**note, "count": note.get("count", 1)})
        else:
            count = old["count"] + note.get("count", 1)
            if note["size"] > old["size"]:
                old.update(note)
            old["count"] = count
        return
    key = (note["kind"], note["backend"], note["detail"])
    if all((n["kind"], n["backend"], n["detail"]) != key for n in notes):
        notes.append(note)


def failure_report(config: SweepConfig, last_failure: dict | None) -> dict:
    """The failure record of a sweep's last failing example (``last_failure``): the replay spec, the
    command that reproduces it (``crosscheck sweep --replay``) and its minimal case in ``check``'s form."""
    f = dict(last_failure or {})
    replay = {k: f[k] for k in ("network", "convention", "batch_size", "seed", "draws", "dtype", "kinks")
              if k in f}
    backends = sorted({p["who"].split(" ")[0] for p in f.get("problems", []) if not p["who"].startswith("route")})
    # the replay spec carries dtype, kinks and draws; the flags carry every other option the
    # verdict depends on, so the command fails when run as printed
    cmd = f"crosscheck sweep --replay '{json.dumps(replay, separators=(',', ':'))}'"
    cfg = config
    if backends:
        cmd += f" --backends {','.join(backends)}"
    else:  # only routes failed: no backend is needed to reproduce it
        cmd += " --backends numpy"
    if cfg.routes:
        cmd += f" --routes {','.join(cfg.routes)}"
    if cfg.device != "cpu":
        cmd += f" --device {cfg.device}"
    if cfg.precision != "default":
        cmd += f" --precision {cfg.precision}"
    if cfg.strict_kinks:
        cmd += " --strict-kinks"
    f["reproduce"] = cmd
    f["minimal_case"] = minimal_case(f)
    return f


def minimal_case(f: dict) -> dict | None:
    """The failing draw of a failure record as one ``Case`` (``crosscheck check``'s form), or None."""
    if not f:
        return None
    net = Network.from_dict(f["network"])
    d = draw(net, f["seed"], batch_size=f["batch_size"], draws=f["draws"], kinks=f.get("kinks", False),
             dtype=f["dtype"])
    first = next((p.get("draw", 0) for p in f["problems"]), 0) or 0
    params, X, Y = d.one(first)
    return Case(net, Convention.from_dict(f["convention"]), params, X, Y).to_dict()
