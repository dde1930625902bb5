"""Hypothesis settings profiles: ``ci``, ``dev`` and ``thorough``.

Which profile applies, first match wins:

1. an explicit ``profile=`` argument (``settings_for("ci")``, ``crosscheck sweep --profile ci``);
2. the process-wide choice of the pytest plugin (``pytest --crosscheck-profile ci``), set
   with :func:`set_current_profile`;
3. the environment variable ``CROSSCHECK_PROFILE``;
4. ``ci`` when the environment variable ``CI`` is true (``true``, ``1``, ``yes``, ``on``), as
   GitHub Actions, GitLab CI and most other services set it;
5. ``dev``.

The profiles are plain data here: hypothesis is imported only when settings are built, so the
pytest plugin, which loads in every pytest run of everyone who has crosscheck installed, stays light.
:func:`register_profiles` also registers them with hypothesis as ``crosscheck-ci``,
``crosscheck-dev`` and ``crosscheck-thorough`` (prefixed, so a user's own ``ci`` profile is
never overwritten); ``pytest --hypothesis-profile crosscheck-ci`` then works for any test.

crosscheck's own test suite pins ``max_examples`` per test (each law's cost differs), which a
loaded profile cannot override; its conftest calls :func:`scale_pinned_examples`, so under
``thorough`` every pinned count is multiplied by ``SUITE_SCALE["thorough"]`` and the suite
really runs longer (docs/measurements.md, "profiles").
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import hypothesis

__all__ = [
    "PROFILES",
    "PROFILE_NAMES",
    "ENV_VAR",
    "HYPOTHESIS_PREFIX",
    "settings_for",
    "register_profiles",
    "current_profile",
    "set_current_profile",
    "validate_profile",
    "profile_values",
    "SUITE_SCALE",
    "suite_scale",
    "scale_pinned_examples",
]

ENV_VAR = "CROSSCHECK_PROFILE"
HYPOTHESIS_PREFIX = "crosscheck-"

# "health_checks" lists HealthCheck member names to suppress, "phases" the Phase names to run (default
# _PHASES); the rest are hypothesis.settings keywords.
# Why each choice:
# - deadline=None everywhere: JAX compiles per shape (0.2-0.3 s) and CI runners are slow and noisy, so
#   a per-example deadline would report the machine, not the gradients (a false failure).
# - ci: derandomize so a red build is red again on re-run and the same on every job of a matrix;
#   database=None so no job writes .hypothesis/ (shared checkouts, xdist workers, read-only caches);
#   print_blob so every failure prints the @reproduce_failure line that replays it locally.
#   too_slow is suppressed for the same reason as the deadline.
# - no explain phase anywhere: its "lines always and only run by failing examples" point into
#   crosscheck's own comparison code, which says nothing about the user's mistake, and it costs time.
# - dev: few examples, the local example database kept, so a failure found once is replayed first.
# - thorough: for nightly or pre-release runs.
_PHASES = ("explicit", "reuse", "generate", "target", "shrink")
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {
        "max_examples": 100,
        "derandomize": True,
        "deadline": None,
        "database": None,
        "print_blob": True,
        "health_checks": ("too_slow",),
    },
    "dev": {
        "max_examples": 20,
        "deadline": None,
        "print_blob": True,
    },
    "thorough": {
        "max_examples": 1000,
        "deadline": None,
        "print_blob": True,
        "health_checks": ("too_slow",),
    },
}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)

# The project's own suite: how many times its pinned max_examples each hypothesis test runs.
SUITE_SCALE = {"ci": 1, "dev": 1, "thorough": 10}

_TRUE = {"1", "true", "yes", "on"}

# Set by the pytest plugin for the length of a pytest session (None: not set).
_process_profile: str | None = None


def validate_profile(name: str, *, source: str = "profile") -> str:
    """``name`` if it is a profile, else a UsageError naming the choices and where it came from."""
    if name not in PROFILES:
        raise UsageError(f"{source} {name!r} is not a crosscheck profile; choose one of "
                         f"{', '.join(PROFILE_NAMES)}")
    return name


def set_current_profile(name: str | None) -> str | None:
    """Choose the profile for this whole process (the pytest plugin does, for ``--crosscheck-profile``).

    ``None`` clears the choice. Returns the previous choice so a caller can restore it."""
    global _process_profile
    if name is not None:
        validate_profile(name)
    previous, _process_profile = _process_profile, name
    return previous


def _ci_env() -> bool:
    return os.environ.get("CI", "").strip().lower() in _TRUE


def current_profile(profile: str | None = None) -> str:
    """The profile name in force: ``profile`` if given, else the plugin's, the environment's, or the default."""
    if profile is not None:
        return validate_profile(profile)
    if _process_profile is not None:
        return _process_profile
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return validate_profile(env, source=f"environment variable {ENV_VAR}=")
    return "ci" if _ci_env() else "dev"


def profile_values(profile: str | None = None) -> dict[str, Any]:
    """The settings of a profile as plain data (health checks by name), for reports and docs."""
    return dict(PROFILES[current_profile(profile)])


def _settings_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase

    kw = {k: v for k, v in values.items() if k not in ("health_checks", "phases")}
    kw["phases"] = [Phase[name] for name in values.get("phases", _PHASES)]
    if values.get("health_checks"):
        kw["suppress_health_check"] = [HealthCheck[name] for name in values["health_checks"]]
    return kw


def settings_for(profile: str | None = None, **overrides: Any) -> hypothesis.settings:
    """``hypothesis.settings`` for a profile (chosen as the module docstring says), with overrides.

    Settings the profile does not name (verbosity, phases, ...) are inherited from hypothesis's
    currently loaded profile, so a user's own choices there survive. Usable as a decorator::

        @settings_for("ci", max_examples=50)
        @given(cases())
        def test_...(case): ...
    """
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    kw = _settings_kwargs(PROFILES[current_profile(profile)])
    kw.update(overrides)
    try:
        return settings(**kw)
    except (InvalidArgument, TypeError) as e:
        raise UsageError(f"bad hypothesis setting for profile {current_profile(profile)!r}: {e}") from None


def register_profiles() -> tuple[str, ...]:
    """Register the profiles with hypothesis as ``crosscheck-ci`` etc.; returns the registered names.

    Does not load any of them: that stays the user's (or ``--hypothesis-profile``'s) choice."""
    from hypothesis import settings

    names = []
    for name, values in PROFILES.items():
        settings.register_profile(HYPOTHESIS_PREFIX + name, **_settings_kwargs(values))
        names.append(HYPOTHESIS_PREFIX + name)
    return tuple(names)


def suite_scale(profile: str | None = None) -> int:
    """The factor on the project's own pinned ``max_examples`` under ``profile`` (``SUITE_SCALE``)."""
    return SUITE_SCALE[current_profile(profile)]


def scale_pinned_examples(functions: Any, profile: str | None = None) -> int:
    """Multiply the pinned ``max_examples`` of each hypothesis test in ``functions`` by
    :func:`suite_scale`; returns how many were scaled (0 when the factor is 1). For the
    project's own conftest: hypothesis keeps a test's ``@settings`` on the function
    (``_hypothesis_internal_use_settings``), which is where ``@given`` reads them at run time."""
    factor = suite_scale(profile)
    if factor == 1:
        return 0
    from hypothesis import settings

    scaled = 0
    for fn in functions:
        pinned = getattr(fn, "_hypothesis_internal_use_settings", None)
        if pinned is None or not getattr(fn, "is_hypothesis_test", False) or getattr(fn, "_crosscheck_scaled", False):
            continue
        fn._hypothesis_internal_use_settings = settings(pinned, max_examples=pinned.max_examples * factor)
        fn._crosscheck_scaled = True
        scaled += 1
    return scaled
