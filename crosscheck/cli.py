"""The ``crosscheck`` command line. Parsers only: each job is imported when it runs, so
``crosscheck --help`` stays fast and never imports torch or JAX.

Exit codes: 0 everything compared and agreed; 1 a gradient disagreement; 2 a usage error;
3 (``check``) the implementation under test failed to run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from importlib import import_module
from typing import Any

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_IMPL_ERROR = 0, 1, 2, 3

# subcommand -> "module:function"; the function takes the parsed namespace, returns an exit code
_JOBS = {
    "sweep": "crosscheck.sweep.args:run_from_args",
    "check": "crosscheck.check.job:run_from_args",
    "shapes": "crosscheck.layout:run_from_args",
    "conventions": "crosscheck.model.presets:run_from_args",
    "env": "crosscheck.environment:run_from_args",
    "grade": "crosscheck.grade:run_from_args",
    "audit": "crosscheck.audit:run_from_args",
    "port": "crosscheck.port:run_from_args",
}


def _int_at_least(lo: int, option: str = ""):
    what = "a positive integer" if lo == 1 else f"an integer >= {lo}"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"expected {what}, got {v}")
        from .errors import bounded

        problem = bounded(option, v, low=lo, low_open=False) if option else None
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return v

    return parse


def _bounded_float(option: str, *, low_open: bool):
    """A finite number above 0 (or at least 0) and at most ``errors.OPTION_MAX[option]``."""
    def parse(text: str) -> float:
        from .errors import bounded

        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        problem = bounded(option, v, low=0.0, low_open=low_open)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return v

    return parse



def _convention_options(p: argparse.ArgumentParser, *, with_defaults: bool = False) -> None:
    g = p.add_argument_group("convention (how your code lays out the network)")
    g.add_argument("--preset", metavar="NAME", help="a named convention; see `crosscheck conventions`")
    g.add_argument("--batch", choices=["rows", "columns", "single"], help="X as m x n (rows), n x m (columns) "
                   "or one n x 1 sample (single)")
    g.add_argument("--weights", choices=["out_in", "in_out"], help="W_l as n_l x n_{l-1} (out_in) or transposed")
    g.add_argument("--bias", choices=["none", "vector", "column", "row", "augmented", "first_column"],
                   type=lambda s: s.replace("-", "_"), metavar="LAYOUT",
                   help="bias as (n,) vector, (n,1) column, (1,n) row, absent (none), a constant-1 input "
                   "(augmented, as in Mishachev's homogeneous network), or the first column of Theta = [b | W] "
                   "(first_column or first-column, Ng's ex4)")
    g.add_argument("--params", choices=["pairs", "dict", "flat"], help="list of (W, b), dict W1, b1, ..., or "
                   "one unrolled vector of every array, layer after layer (flat)")
    g.add_argument("--flat-order", choices=["C", "F"], help="with --params flat: each array unrolled in row "
                   "order (C, NumPy's ravel(), default) or column order (F, Octave's Theta(:))")


def _target_penalty_options(g) -> None:
    g.add_argument("--targets", choices=["soft", "onehot", "labels", "binary"],
                   help="Y as probability rows (soft), one-hot rows, a 1-D integer label array (softmax_ce), "
                   "or 0/1 (binary, bce)")
    g.add_argument("--l2", type=_bounded_float("l2", low_open=False), metavar="LAMBDA",
                   help="L2 penalty strength on the weights")
    g.add_argument("--l1", type=_bounded_float("l1", low_open=False), metavar="LAMBDA",
                   help="L1 penalty strength on the weights")
    g.add_argument("--penalty-form", choices=["half", "full", "half_over_m", "over_m"],
                   help="the penalty's scale: λ/2·Σ (half, default), λ·Σ, λ/(2m)·Σ, λ/m·Σ")
    g.add_argument("--penalty-bias", action=argparse.BooleanOptionalAction, default=None,
                   help="penalise the biases too (default: weights only)")


def _network_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument("--hidden", metavar="ACT", help="hidden activation, e.g. tanh, relu, or relu:1 (relu with "
                   "relu'(0) = 1) (default: the preset's, else tanh)")
    g.add_argument("--output", metavar="ACT", help="output activation (default: the preset's, else identity)")
    g.add_argument("--loss", choices=["output", "readout", "half_sse", "sse", "bce", "softmax_ce"],
                   help="what is differentiated: output = the network's single output f itself (no target; "
                   "gradients of f, as in Mishachev's notes; needs one output unit); readout = alpha^T a, the "
                   "output read out by a fixed vector alpha (no target; Wen Sun's notes); half_sse = "
                   "1/2 sum (a - y)^2; sse = sum (a - y)^2; bce = binary cross-entropy of a sigmoid output; "
                   "softmax_ce = cross-entropy of softmax(a) (default: the preset's, else half_sse)"),
    g.add_argument("--reduction", choices=["sum", "mean", "mean_all"],
                   help="over samples (sum, mean) or samples and output units (mean_all: torch's default) "
                   "(default: the preset's, else mean)")
    _target_penalty_options(g)
    d = g.add_mutually_exclusive_group()
    d.add_argument("--depth", type=_int_at_least(1, "depth"), metavar="N",
                   help="exactly N layers (default: the preset's)")
    d.add_argument("--max-depth", type=_int_at_least(1, "max_depth"), metavar="N",
                   help="1..N layers, or --min-depth..N (default: 3)")
    g.add_argument("--min-depth", type=_int_at_least(1, "min_depth"), metavar="N",
                   help="at least N layers (a FullyConnectedNet with a hidden layer: 2)")
    g.add_argument("--max-width", type=_int_at_least(1, "max_width"), metavar="N",
                   help="widths up to N, 1 included: then they repeat (default: 6)")
    g.add_argument("--output-width", type=_int_at_least(1, "output_width"), metavar="N",
                   help="exactly N output units in every phase, 1 for single-output code (default: drawn, as the "
                        "loss allows)")


class _Formatter(argparse.HelpFormatter):
    """Each option's help ends with its default, unless the help already says it (``default:``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line and a pointer to --help (exit 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Terminated(KeyboardInterrupt):
    """SIGTERM (what CI cancellation sends): unwinds like Ctrl-C, so the sandbox's tree is ended first."""


def _redeliver_dropped_interrupts(previous: Any) -> Any:
    """A sys.unraisablehook: an interrupt raised while Python runs a gc callback or a ``__del__`` is
    printed and dropped, not raised (hypothesis times every collection with a gc callback), so a
    SIGTERM or Ctrl-C landing there was lost and the command ran on. Sent again instead, until it
    lands in the command's own code; anything else goes to the ``previous`` hook."""
    import threading

    def hook(unraisable: Any) -> None:
        kind = unraisable.exc_type
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            signum = signal.SIGTERM if issubclass(kind, _Terminated) else signal.SIGINT
            # from another thread, a moment later: sent from here, its handler would run (and its
            # exception be dropped again) inside this hook
            threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
            return
        previous(unraisable)

    return hook


class _StdoutGuard:
    """sys.stdout for a job: when the reader leaves (``| head -1``, ``| true``), further output goes to
    /dev/null and the job goes on, so the exit code stays the verdict's (a closed pipe is not a pass)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.reader_left = False

    def _left(self) -> None:
        self.reader_left = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text: str) -> int:
        if not self.reader_left:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._left()
        return len(text)

    def flush(self) -> None:
        if not self.reader_left:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._left()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="crosscheck",
        description="Prove a neural network's gradients right: the NumPy reference of backprop in "
        "matrix notation against torch.autograd, jax.grad, or your own implementation.",
        epilog="exit codes: 0 agree, 1 gradients differ, 2 usage error, 3 implementation failed to run",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("sweep", help="hypothesis sweep: reference routes vs torch / JAX on random networks",
                       description="Generate networks with hypothesis and compare every reference route "
                       "and backend on each. Exit 0 when all agree, 1 on a disagreement (with the minimal "
                       "network and a reproduction command), 2 on a usage error.")
    s.add_argument("--backends", metavar="LIST", help="comma list of numpy,torch,jax (default: every installed one)")
    s.add_argument("--routes", metavar="LIST", help="reference routes to cross-check (default: all six)")
    s.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="dtype of the backends' computation; the reference stays float64")
    s.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device for torch and JAX")
    s.add_argument("--precision", choices=["default", "highest"], default="default",
                   help="float32 matmul precision for torch and JAX (GPU TF32 matters here)")
    s.add_argument("--examples", type=_int_at_least(1, "examples"), metavar="N",
                   help="networks to generate (default: the profile's: ci 100, dev 20, thorough 1000)")
    s.add_argument("--draws", type=_int_at_least(1, "draws"), metavar="N",
                   help="parameter draws per network, checked in one vectorised call (default: 64)")
    s.add_argument("--seed", type=_int_at_least(0, "seed"), metavar="S", default=0, help="seed of the whole run")
    s.add_argument("--profile", choices=["ci", "dev", "thorough"], help="hypothesis settings: ci (derandomized, "
                   "no example database), dev (fast) or thorough (default: $CROSSCHECK_PROFILE, else ci when "
                   "$CI is set, else dev)")
    s.add_argument("--kinks", action="store_true", help="place some pre-activations exactly on kinks")
    s.add_argument("--strict-kinks", action="store_true", help="count kink-only disagreements as failures")
    s.add_argument("--shard", metavar="I/N", help="run shard I of N (1-based); shards add up to the whole sweep")
    s.add_argument("--jobs", metavar="N", default="auto", help="processes sharing the examples (the same "
                   "examples and report as one; default auto: one per core from 100 examples on, where "
                   "forking is safe)")
    s.add_argument("--activations", metavar="LIST", help="restrict activations (comma list; default: all)")
    s.add_argument("--losses", metavar="LIST", help="restrict losses (comma list; default: all; see "
                   "crosscheck check --help for what each is)")
    s.add_argument("--json", metavar="PATH", help="write the JSON report here ('-' for stdout)")
    s.add_argument("--replay", metavar="JSON", help="re-run one failing case from a JSON report or case file")
    s.add_argument("--no-progress", action="store_true", help="no progress line (it is shown only on a "
                   "terminal, never under $CI)")
    s.add_argument("--layers", nargs="?", const="all", metavar="LIST",
                   help="sweep the per-layer references (CS231n layers) instead of networks: all, or a comma list; "
                   "--backends then names torch, jax, numpy (the numeric oracles)")

    c = sub.add_parser("check", help="check your own backprop implementation against the reference",
                       description="Call TARGET as fn(params, X, Y) on generated networks in your "
                       "convention and compare its gradients with the reference; name the mistake.")
    c.add_argument("target", metavar="TARGET", help="path/to/file.py:function or package.module:function "
                   "(with --api: path/to/layers.py)")
    _convention_options(c)
    _network_options(c)
    c.add_argument("--examples", type=_int_at_least(1, "examples"), metavar="N",
                   help="generated cases (default: the profile's: ci 100, dev 20, thorough 1000)")
    c.add_argument("--seed", type=_int_at_least(0, "seed"), metavar="S", default=None,
                   help="replay a run (default: a fresh seed from os.urandom, printed and in the report)")
    c.add_argument("--timeout", type=_bounded_float("timeout", low_open=True), metavar="SECONDS", default=10.0,
                   help="per call")
    c.add_argument("--budget", type=_bounded_float("budget", low_open=True), metavar="SECONDS",
                   help="for the whole check: the implementation's calls together (default: no limit)")
    c.add_argument("--memory", type=_int_at_least(1, "memory"), metavar="MB", default=1024,
                   help="memory cap of its process")
    c.add_argument("--profile", choices=["ci", "dev", "thorough"], help="hypothesis settings: ci "
                   "(derandomized, no example database), dev (fast) or thorough (default: $CROSSCHECK_PROFILE, "
                   "else ci when $CI is set, else dev)")
    c.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="dtype of the arrays passed to TARGET")
    c.add_argument("--strict-kinks", action="store_true",
                   help="fail a difference that exists only exactly at a kink (default: a note)")
    c.add_argument("--detect", action="store_true",
                   help="probe the function for its convention and network and print them as flags (the default "
                        "when no convention flag or preset is given); with flags, name a declared convention "
                        "the code does not follow")
    c.add_argument("--json", metavar="PATH", help="write the JSON verdict here ('-' for stdout; default: none)")
    c.add_argument("--plot", metavar="PATH", help="write a PNG of expected, got and difference (default: none)")
    la = c.add_argument_group("layer API (TARGET is a module: layers.py, or layers.py:function for one layer)")
    la.add_argument("--api", choices=["cs231n", "module"], help="cs231n: the module's layer functions (forward "
                    "and backward with a cache); module: its layer classes (forward(x), backward(dout), gradients "
                    "in attributes: nnfs's Layer_Dense, a Linear/ReLU/Sequential framework); one verdict per layer")
    la.add_argument("--grads", metavar="MAP", help="with --api module: the attributes holding the gradients, e.g. "
                    "dW=dweights,db=dbiases,dx=dinputs (default: the common names)")
    la.add_argument("--layers", metavar="LIST", help="comma list of layers to check (default: every one the "
                    "module defines): affine,relu,softmax_loss,svm_loss,batchnorm,batchnorm_alt,layernorm,"
                    "dropout,conv,max_pool,spatial_batchnorm,spatial_groupnorm")
    la.add_argument("--dropout-p", choices=["keep", "drop"], help="dropout_param['p'] is the keep probability "
                    "(recent years of the course, default) or the drop probability (older years)")
    ob = c.add_argument_group("objects and signatures", "TARGET file.py:Class.method (a course's "
                              "TwoLayerNet.loss), or a function called otherwise than fn(params, X, Y)")
    ob.add_argument("--params-attr", metavar="NAME", help="the instance's dict the parameters are written into "
                    "(default: params, as CS231n's self.params; '' sets attributes W1, b1, ...)")
    ob.add_argument("--returns", metavar="LIST", help="what the method or function returns, in order, e.g. "
                    "loss,grads (default: the gradients alone; a flat function's (J, grad) is read as such)")
    ob.add_argument("--args", metavar="LIST", help="a function's positional arguments, in order, from params, X, "
                    "Y, y (the class of each sample), n_in, n_hidden, n_out, m, l2 (lambda), e.g. Ng's "
                    "params,n_in,n_hidden,n_out,X,y,l2 (default: read off the parameter names, else params,X,Y)")
    ob.add_argument("--label-base", type=_int_at_least(0, "label_base"), metavar="N", help="class labels "
                    "counted from N: 1 for Octave's 1..K (default 0)")
    c.add_argument("--forbid-import", metavar="MOD,...", help="modules the implementation may not import "
                   "(and their submodules), e.g. torch,jax: exit 3 'forbidden import' if it tries")
    c.add_argument("--isolation", choices=["auto", "bwrap", "process"], default="auto",
                   help="auto: bubblewrap where installed (read-only file system, no network), else process")

    sh = sub.add_parser("shapes", help="print the shape of every quantity and each gradient formula "
                        "in a convention")
    _convention_options(sh)
    _target_penalty_options(sh.add_argument_group("targets and penalty"))
    sh.add_argument("--widths", metavar="N0,N1,...", default="2,3,2", help="layer widths, input first")
    sh.add_argument("--batch-size", type=_int_at_least(1, "batch_size"), metavar="M", default=4,
                    help="samples m in X")

    sub.add_parser("conventions", help="list the convention presets, one line each")

    g = sub.add_parser("grade", help="grade a submission with a grading config: points per part, "
                       "Gradescope results.json", description="Run every check of GRADING.toml against the "
                       "submission, each part confined as `check` runs it, and write the results. Exit 0 "
                       "whenever results were written, 2 for a bad config.")
    g.add_argument("config", metavar="GRADING.toml", help="the grading config (docs/teaching.md)")
    g.add_argument("--submission", metavar="DIR", help="the folder to grade (targets are relative to it; "
                   "default: the current directory)")
    g.add_argument("--format", choices=["text", "gradescope", "json", "junit"], default="text",
                   help="text for a terminal, gradescope (results.json), json, or junit XML")
    g.add_argument("--out", metavar="PATH", help="write the results here (default: stdout)")
    g.add_argument("--seed", type=_int_at_least(0, "seed"), metavar="S", help="replay a grading run (default: "
                   "a fresh seed from os.urandom, printed and recorded; a config's seed pins its checks)")
    g.add_argument("--autograder", metavar="OUT.zip", help="write a Gradescope autograder bundle instead")
    g.add_argument("--install", metavar="REQUIREMENT", help="what the bundle's setup.sh pip-installs "
                   "instead of the wheel of this crosscheck that it carries (a URL, a published version)")
    g.add_argument("--self-check", action="store_true", help="a student's check before submitting: run the "
                   "config's visible checks on --submission (default: the current folder); exit 1 if a part fails")

    e = sub.add_parser("env", help="versions, devices, precision settings and what they do to float32")
    e.add_argument("--json", metavar="PATH", help="write the report as JSON ('-' for stdout; default: none)")

    a = sub.add_parser("audit", help="torch vs JAX: same name, different math (values, derivatives, defaults)",
                       description="Compare torch's and JAX's spellings of every function in the audit table "
                       "(values and derivatives at kinks, thresholds, tails and ties, float32 and float64; "
                       "default arguments from the installed signatures). Exit 0 when every difference is a "
                       "documented convention, 1 on an unexplained one, with --strict on any, or when an "
                       "answer changed since --baseline; 2 on a usage error.")
    a.add_argument("--json", metavar="PATH", help="write every answer as JSON ('-' for stdout)")
    a.add_argument("--strict", action="store_true", help="exit 1 on any difference, documented or not")
    a.add_argument("--save-baseline", metavar="PATH", help="record today's answers and library versions")
    a.add_argument("--baseline", metavar="PATH", help="exit 1 naming each answer that changed since PATH")
    a.add_argument("--all", action="store_true", help="list the aspects that agree too")
    a.add_argument("--markdown", action="store_true", help="print the differences as a markdown table")
    a.add_argument("--functions", metavar="LIST", help="only these functions (comma list, e.g. gelu,softplus)")
    a.add_argument("--without", metavar="LIST", help="treat these optional libraries as not installed: optax,flax")

    pt = sub.add_parser("port", help="a torch model against its JAX/Flax port: outputs and gradients, the mistake "
                        "located and named", description="Compare FILE.py:make_torch (a torch nn.Module) with "
                        "FILE.py:make_jax (a flax module, apply_fn(params, x), or (apply_fn, params)) on inputs "
                        "hypothesis draws, both directions, float64 and float32 (docs/port.md). Exit 0 when they "
                        "agree, 1 naming the first mistake, 2 on a usage error.")
    pt.add_argument("torch_target", metavar="FILE.py:make_torch")
    pt.add_argument("jax_target", metavar="FILE.py:make_jax")
    pt.add_argument("--input-shape", required=True, metavar="DIMS",
                    help="torch's input layout, sizes or names: B,3,H,H (same name, same size; B leads: 1, 2)")
    pt.add_argument("--size", action="append", metavar="NAME=INT[,INT]", help="a named size's choices: H=8,16")
    pt.add_argument("--int", dest="int_range", metavar="LOW:HIGH", help="integer inputs (token ids) in [LOW, HIGH)")
    pt.add_argument("--convert", metavar="FILE.py:convert", help="your convert(state_dict) -> params "
                    "(default: the built-in rules)")
    pt.add_argument("--dtypes", metavar="LIST", help="float64,float32 (default both)")
    pt.add_argument("--directions", metavar="LIST", help="torch->jax,jax->torch (default both)")
    pt.add_argument("--examples", type=_int_at_least(1), default=4, help="inputs hypothesis draws (default 4)")
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # crosscheck's own process (not a caller's): non-dumpable from its first instruction on,
        # so an implementation checked by another crosscheck of this user cannot write its memory while it
        # starts (crosscheck.sandbox.isolation.make_undumpable)
        from .sandbox.isolation import make_undumpable

        make_undumpable()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
        return int(e.code or 0)
    if args.version:
        from .version import __version__

        print(f"crosscheck {__version__}")
        return EXIT_OK
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    module, func = _JOBS[args.command].split(":")
    if args.command == "sweep" and getattr(args, "layers", None):
        module, func = "crosscheck.layers.sweep", "run_from_args"
    job = getattr(import_module(module), func)
    from .errors import UsageError

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    for stream in (sys.stdout, sys.stderr):  # a character the terminal cannot encode is escaped, never fatal
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass
    guard = _StdoutGuard(sys.stdout)
    saved = sys.stdout
    sys.stdout = guard  # type: ignore[assignment]
    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave SIGTERM alone
        previous = None
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _redeliver_dropped_interrupts(previous_hook)
    try:
        return int(job(args))
    except UsageError as e:
        print(f"crosscheck {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except _Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        guard.flush()
        sys.stdout = saved
        sys.unraisablehook = previous_hook
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
