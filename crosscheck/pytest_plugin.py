"""The pytest plugin (entry point ``pytest11: crosscheck``), loaded in every pytest run where
crosscheck is installed, so it imports nothing heavy: no torch, no JAX, no hypothesis at startup.

Options (each also an ini key, ``crosscheck_backends`` etc.; the command line wins)::

    --crosscheck-backends LIST      comma list of numpy,torch,jax (default: every installed one)
    --crosscheck-profile NAME       ci | dev | thorough (default: $CROSSCHECK_PROFILE, ci under CI, dev)
    --crosscheck-device DEVICE      cpu | cuda (default cpu)
    --crosscheck-shard I/N          the sweep shard the ``crosscheck_sweep`` fixture runs (only that
                                    fixture: other tests run whole in every shard)
    --crosscheck-forbid-import MODS modules ``check_implementation`` refuses in its sandbox (e.g. torch,jax)
    --crosscheck-audit-baseline PATH  the ``crosscheck_audit`` fixture fails naming each answer that
                                    changed since PATH (``crosscheck audit --save-baseline PATH``)

Decisions, so that a green run means something:

- An unknown backend name, or a backend named explicitly that is not installed, stops the run at
  start-up with a one-line usage error (pytest exit code 4), as ``crosscheck sweep`` exits 2: a CI
  job configured for torch must not go green by skipping torch. Without the option, every installed
  backend is used and the missing ones are listed in the header and in ``crosscheck_config.missing``.
- ``--crosscheck-device cuda`` without a CUDA device fails each test that asks for
  ``crosscheck_config`` (it is checked lazily: detecting CUDA imports torch or JAX).
- The plugin's markers are namespaced and touch nothing else: a project's own ``slow`` and ``gpu``
  markers behave exactly as without crosscheck. ``crosscheck_gpu`` tests are skipped, with the
  reason, when there is no CUDA device; ``crosscheck_slow`` is added to tests using the
  ``crosscheck_sweep`` or ``crosscheck_audit`` fixture (deselect them with
  ``-m "not crosscheck_slow"``; nothing is deselected by default); tests marked
  ``crosscheck(backends=[...])`` are skipped when one of those backends is not configured.
- The profile is set process-wide (:func:`crosscheck.profiles.set_current_profile`) for the session,
  so ``crosscheck.check_implementation``, sweeps and ``settings_for()`` honour it; it is restored
  when the session ends. A profile chosen explicitly (option, ini key or ``$CROSSCHECK_PROFILE``)
  is also loaded as hypothesis's profile, so the user's own ``@given(cases(...))`` tests run
  under it, unless ``--hypothesis-profile`` names another. Under pytest-xdist every worker parses
  the same options and does the same; nothing is written to shared files.
- A failing ``check_implementation`` or ``crosscheck_sweep`` raises a short message (verdict, first
  diagnosis, case, reproduce line); the rest of the report is the test's "crosscheck report"
  section, and the short test summary keeps only the message's first line, also under ``CI=true``.
- A relative TARGET path (``"mlp/backprop.py:backprop"``) is looked up in the calling test file's
  folder, then rootdir, then the current directory, so ``pytest path/to/tests`` works from anywhere.

Fixtures: ``crosscheck_config`` (a :class:`CrosscheckConfig`), ``crosscheck_sweep`` (a function
running a sweep shard with the configured options, failing the test with the report on a mismatch)
and ``crosscheck_audit`` (``crosscheck.audit.pytest_support``: torch vs JAX semantics against a baseline).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

import pytest

from . import profiles
from .backends import BACKEND_NAMES, available_backends
from .errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import hypothesis

    from .sweep.config import SweepConfig
    from .sweep.result import SweepResult

__all__ = ["CrosscheckConfig", "KNOWN_BACKENDS", "DEVICES", "cuda_available"]

KNOWN_BACKENDS = BACKEND_NAMES
DEVICES = ("cpu", "cuda")
_FIXTURES = ("crosscheck_config", "crosscheck_sweep", "crosscheck_audit")
_SLOW_FIXTURES = ("crosscheck_sweep", "crosscheck_audit")
_REPORT_SECTION = "crosscheck report"

_config_key = pytest.StashKey["CrosscheckConfig"]()
_previous_profile_key = pytest.StashKey["str | None"]()
_previous_hypothesis_key = pytest.StashKey[str]()


@dataclass(frozen=True)
class CrosscheckConfig:
    """What the crosscheck options resolved to in this pytest session.

    backends: the backends to compare, every one installed; ``missing`` maps each known backend
    left out to the reason. ``shard`` is ``(I, N)``, 1-based, or None for the whole sweep.
    """

    backends: tuple[str, ...]
    profile: str
    device: str = "cpu"
    shard: tuple[int, int] | None = None
    missing: dict[str, str] = field(default_factory=dict)
    explicit_backends: bool = False

    @property
    def settings(self) -> hypothesis.settings:
        """``hypothesis.settings`` of the profile, e.g. ``crosscheck_config.settings(test_fn)``."""
        return profiles.settings_for(self.profile)

    def settings_for(self, **overrides: Any) -> hypothesis.settings:
        return profiles.settings_for(self.profile, **overrides)

    def require(self, *backends: str) -> None:
        """Skip the calling test unless every one of ``backends`` is configured."""
        __tracebackhide__ = True
        for name in backends:
            if name not in KNOWN_BACKENDS:
                raise UsageError(f"unknown backend {name!r}; choose from {', '.join(KNOWN_BACKENDS)}")
            if name not in self.backends:
                pytest.skip(f"crosscheck backend {name!r} not configured"
                            f"{': ' + self.missing[name] if name in self.missing else ''}")

    def sweep_config(self, **overrides: Any) -> SweepConfig:
        """A ``crosscheck.sweep.SweepConfig`` with this session's backends, device, profile and shard."""
        from .sweep.config import SweepConfig

        base = SweepConfig(backends=self.backends, device=self.device, profile=self.profile, shard=self.shard)
        try:
            return replace(base, **overrides)
        except TypeError as e:
            raise UsageError(f"bad sweep option: {e}") from None

    def describe(self) -> str:
        shard = f", shard {self.shard[0]}/{self.shard[1]}" if self.shard else ""
        missing = f" (missing: {', '.join(self.missing)})" if self.missing else ""
        return (f"crosscheck: profile {self.profile}, backends {','.join(self.backends)}{missing}, "
                f"device {self.device}{shard}")


# ---- CUDA detection (lazy: only gpu-marked tests and --crosscheck-device cuda pay for it) --------
@lru_cache(maxsize=1)
def cuda_available() -> tuple[bool, str]:
    """(available, how we know). On Linux without NVIDIA device files no framework is imported."""
    if sys.platform.startswith("linux") and not (os.path.exists("/proc/driver/nvidia")
                                                  or os.path.exists("/dev/nvidia0")):
        return False, "no NVIDIA driver on this machine"
    if find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return True, f"torch sees {torch.cuda.get_device_name(0)}"
    if find_spec("jax") is not None:
        try:
            import jax

            gpus = jax.devices("gpu")
        except RuntimeError:
            gpus = []
        if gpus:
            return True, f"JAX sees {gpus[0]}"
    return False, "neither torch nor JAX sees a CUDA device"


# ---- options ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crosscheck", "crosscheck: gradient checks against the NumPy reference")
    group.addoption("--crosscheck-backends", metavar="LIST", default=None,
                    help="comma list of backends to compare with the reference: numpy,torch,jax "
                    "(default: every installed one; a named one that is missing is a usage error)")
    group.addoption("--crosscheck-profile", metavar="NAME", choices=profiles.PROFILE_NAMES, default=None,
                    help="hypothesis profile for crosscheck checks: ci (derandomized, no deadline, no "
                    "database writes), dev (fast) or thorough (default: $CROSSCHECK_PROFILE, else ci "
                    "when $CI is set, else dev)")
    group.addoption("--crosscheck-device", metavar="DEVICE", choices=DEVICES, default=None,
                    help="device for torch and JAX: cpu or cuda (default: cpu)")
    group.addoption("--crosscheck-shard", metavar="I/N", default=None,
                    help="run shard I of N (1-based) of the crosscheck_sweep fixture's sweep; "
                    "the N shards add up exactly to the whole sweep. Only that fixture is split: every "
                    "other test runs in full in every shard (default: the whole sweep)")
    group.addoption("--crosscheck-audit-baseline", metavar="PATH", default=None,
                    help="the crosscheck_audit fixture fails naming each torch/JAX answer that changed since "
                    "this baseline (write one with: crosscheck audit --save-baseline PATH; default: none)")
    parser.addini("crosscheck_audit_baseline", "default for --crosscheck-audit-baseline", default="")
    parser.addini("crosscheck_backends", "default for --crosscheck-backends", default="")
    parser.addini("crosscheck_profile", "default for --crosscheck-profile", default="")
    parser.addini("crosscheck_device", "default for --crosscheck-device", default="")
    group.addoption("--crosscheck-forbid-import", metavar="MOD,...", default=None,
                    help="modules (and their submodules) that code checked by check_implementation may not "
                    "import, e.g. torch,jax: such a check fails with 'forbidden import' (default: none)")
    parser.addini("crosscheck_shard", "default for --crosscheck-shard", default="")
    parser.addini("crosscheck_forbid_import", "default for --crosscheck-forbid-import", default="")


def _option(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"crosscheck_{name}")
    if value is None:
        value = str(config.getini(f"crosscheck_{name}") or "").strip() or None
    return value


def _resolve_backends(text: str | None) -> tuple[tuple[str, ...], dict[str, str]]:
    why_missing = available_backends()  # find_spec only: imports no framework
    if text is None:
        missing = {n: why for n, why in why_missing.items() if why is not None}
        return tuple(n for n, why in why_missing.items() if why is None), missing
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--crosscheck-backends is empty; give a comma list of numpy,torch,jax")
    for n in names:
        if n not in KNOWN_BACKENDS:
            raise UsageError(f"--crosscheck-backends: unknown backend {n!r}; choose from "
                             f"{', '.join(KNOWN_BACKENDS)}")
        if why_missing.get(n):
            raise UsageError(f"--crosscheck-backends: {n} was asked for, but {why_missing[n]}")
    return tuple(dict.fromkeys(names)), {}


def _resolve(config: pytest.Config) -> CrosscheckConfig:
    backends_text = _option(config, "backends")
    backends, missing = _resolve_backends(backends_text)
    profile_opt = _option(config, "profile")
    profile = profiles.current_profile(profile_opt)
    device = _option(config, "device") or "cpu"
    if device not in DEVICES:
        raise UsageError(f"crosscheck_device {device!r}: choose cpu or cuda")
    shard_text = _option(config, "shard")
    shard = None
    if shard_text is not None:
        from .sweep.config import parse_shard

        shard = parse_shard(shard_text)
    return CrosscheckConfig(backends=backends, profile=profile, device=device, shard=shard,
                            missing=missing, explicit_backends=backends_text is not None)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "crosscheck(backends=None): a crosscheck gradient test; skipped "
                            "unless the named backends are configured (added to tests using its fixtures)")
    config.addinivalue_line("markers", "crosscheck_slow: a long crosscheck check (added to tests using the "
                            "crosscheck_sweep or crosscheck_audit fixture; deselect with -m 'not crosscheck_slow')")
    config.addinivalue_line("markers", "crosscheck_gpu: a crosscheck test that needs a CUDA device (skipped "
                            "with the reason when there is none)")
    # hypothesis's own plugin loads --hypothesis-profile in its pytest_configure, which runs after ours
    hyp_profile = config.getoption("hypothesis_profile", None)
    if isinstance(hyp_profile, str) and hyp_profile.startswith(profiles.HYPOTHESIS_PREFIX):
        profiles.register_profiles()
    try:
        resolved = _resolve(config)
    except UsageError as e:
        raise pytest.UsageError(f"crosscheck: {e}") from None
    config.stash[_config_key] = resolved
    forbid = _option(config, "forbid_import")
    if forbid:
        from .sandbox.isolation import set_default_forbidden
        from .sandbox.targets import parse_forbidden

        try:
            set_default_forbidden(parse_forbidden(forbid))
        except UsageError as e:
            raise pytest.UsageError(f"crosscheck: --crosscheck-forbid-import: {e}") from None
    explicit = _option(config, "profile")
    if explicit is not None:
        config.stash[_previous_profile_key] = profiles.set_current_profile(explicit)
    if (explicit is not None or os.environ.get(profiles.ENV_VAR)) and hyp_profile is None:
        # the user's own @given tests run under the chosen profile too (an explicit
        # --hypothesis-profile wins: hypothesis's plugin loads it after this hook)
        from hypothesis import settings

        profiles.register_profiles()
        config.stash[_previous_hypothesis_key] = settings.get_current_profile_name()
        settings.load_profile(profiles.HYPOTHESIS_PREFIX + resolved.profile)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _option(config, "forbid_import"):
        from .sandbox.isolation import set_default_forbidden

        set_default_forbidden(())
    if _previous_hypothesis_key in config.stash:  # in-process runs (pytester) leave the outer profile as it was
        from hypothesis import settings

        settings.load_profile(config.stash[_previous_hypothesis_key])
        del config.stash[_previous_hypothesis_key]
    if _previous_profile_key in config.stash:
        profiles.set_current_profile(config.stash[_previous_profile_key])
        del config.stash[_previous_profile_key]


def pytest_report_header(config: pytest.Config) -> str | None:
    resolved = config.stash.get(_config_key, None)
    if resolved is None:
        return None
    asked = any(_option(config, n) is not None for n in ("backends", "profile", "device", "shard"))
    return resolved.describe() if asked or config.option.verbose >= 1 else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if any(f in fixtures for f in _FIXTURES) and item.get_closest_marker("crosscheck") is None:
            item.add_marker(pytest.mark.crosscheck)
        if any(f in fixtures for f in _SLOW_FIXTURES) and item.get_closest_marker("crosscheck_slow") is None:
            item.add_marker(pytest.mark.crosscheck_slow)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("crosscheck_gpu") is not None:
        ok, why = cuda_available()
        if not ok:
            pytest.skip(f"crosscheck_gpu test: no CUDA device ({why})")
    marker = item.get_closest_marker("crosscheck")
    if marker is not None:
        wanted = marker.kwargs.get("backends", marker.args[0] if marker.args else None)
        if wanted:
            resolved = item.config.stash[_config_key]
            try:
                resolved.require(*([wanted] if isinstance(wanted, str) else wanted))
            except UsageError as e:
                pytest.fail(f"@pytest.mark.crosscheck: {e}", pytrace=False)


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def crosscheck_config(pytestconfig: pytest.Config) -> CrosscheckConfig:
    """The resolved crosscheck options: backends, profile, device, shard and hypothesis settings."""
    __tracebackhide__ = True
    resolved = pytestconfig.stash[_config_key]
    if resolved.device == "cuda":
        ok, why = cuda_available()
        if not ok:
            pytest.fail(f"--crosscheck-device cuda, but there is no CUDA device ({why})", pytrace=False)
    return resolved


@pytest.fixture
def crosscheck_sweep(crosscheck_config: CrosscheckConfig) -> Callable[..., SweepResult]:
    """``crosscheck_sweep(**SweepConfig overrides) -> SweepResult`` for the configured shard.

    A disagreement fails the test with the sweep's report (the minimal network, the arrays and the
    command or ``@reproduce_failure`` blob that reproduces it); pass ``check=False`` to get the
    result back instead."""

    __tracebackhide__ = True

    def run(*, check: bool = True, **overrides: Any) -> SweepResult:
        __tracebackhide__ = True
        from .sweep.run import run_sweep

        try:
            result = run_sweep(crosscheck_config.sweep_config(**overrides))
        except UsageError as e:
            pytest.fail(f"crosscheck sweep: {e}", pytrace=False)
        if check and not result.passed:
            raise SweepFailed(result)
        return result

    return run


@pytest.fixture(scope="session")
def crosscheck_audit(pytestconfig: pytest.Config):
    """``crosscheck_audit(*, baseline=None, strict=False, functions=None)``: run ``crosscheck audit``
    once per session and fail the test on an unexplained torch/JAX difference or on an answer that
    changed since the baseline (``--crosscheck-audit-baseline`` or the ``crosscheck_audit_baseline`` ini key)."""
    __tracebackhide__ = True
    from .audit.pytest_support import AuditFixture

    return AuditFixture(_option(pytestconfig, "audit_baseline"))


class SweepFailed(AssertionError):
    """The ``crosscheck_sweep`` fixture's failure: the headline, the first failure's lines and the
    replay command; the whole report is the test's "crosscheck report" section."""

    def __init__(self, result: SweepResult) -> None:
        self.full = result.report_text()
        lines = self.full.splitlines()
        keep = lines[:4] + [line for line in lines[4:] if "--replay" in line][:1]
        super().__init__("\n".join(keep))


# ---- where a failing check's report goes, and where relative targets are found -------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    from .sandbox.targets import target_search_dirs

    folders = [str(item.path.parent), str(item.config.rootpath)]
    with target_search_dirs(list(dict.fromkeys(folders))):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    excinfo = call.excinfo
    if excinfo is None or report.longrepr is None:
        return report
    error = excinfo.value
    full = summary = None
    if isinstance(error, SweepFailed):
        full = _rest(error.full, str(error))
    elif getattr(error, "report", None) is not None and type(error).__module__ == "crosscheck.errors":
        from .terminal import details, headline

        try:
            full, summary = details(error.report, str(error)), headline(error.report)
        except Exception:  # a report that cannot print itself must not hide the test's own failure
            full = summary = None
    else:
        return report
    if full and full.strip():
        report.sections.append((_REPORT_SECTION, full))
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and isinstance(getattr(crash, "message", None), str):
        # the short summary (printed whole under CI=true) says the verdict once, not the diagnosis again
        crash.message = f"{excinfo.typename}: {summary}" if summary else crash.message.split("\n", 1)[0]
    return report


def _rest(full: str, shown: str) -> str:
    seen = {line.strip() for line in shown.splitlines() if line.strip()}
    return "\n".join(line for line in full.splitlines() if line.strip() not in seen)
