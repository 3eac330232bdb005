"""Command line: ``parity compare``, ``parity inspect``, ``parity backends``.

Exit codes: 0 all within tolerance, 1 divergence found, 2 usage or input error,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). A :class:`ParityError` or a usage
error prints as one ``parity: error:`` line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import ParityError
from .startup import own_process

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "markdown", "json", "html")


def _friendly_errors(command: F) -> F:
    """Turn ParityError into a one-line message and its exit code; apply the --max-* caps."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            _set_caps(kwargs)
            return command(*args, **kwargs)
        except ParityError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"parity: error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return _limit_options(wrapper)  # type: ignore[return-value]


def _limit_options(command: F) -> F:
    """--max-tensor-size/--max-pixels/--max-depth: the caps of parity.limits, raisable."""
    from .limits import Limits, readable_size

    defaults = Limits()
    command = click.option("--max-depth", type=click.IntRange(1), default=defaults.depth,
                           show_default=True, help="Deepest nesting read from a JSON, TOML "
                           "or prototxt file.")(command)
    command = click.option("--max-pixels", type=click.IntRange(1),
                           default=defaults.image_pixels, show_default=True,
                           help="Largest --image, in pixels (read from its header).")(command)
    return click.option("--max-tensor-size", default=readable_size(defaults.tensor_bytes)
                        .replace(" ", "").replace("iB", ""), show_default=True,
                        help="Largest single tensor parity allocates from an input: random "
                        "inputs, .npy/.npz arrays, ONNX external data (e.g. 16G).")(command)


def _set_caps(kwargs: dict[str, Any]) -> None:
    from .limits import parse_size, set_caps

    set_caps(tensor_bytes=parse_size(kwargs.pop("max_tensor_size"), "--max-tensor-size"),
             image_pixels=kwargs.pop("max_pixels"), depth=kwargs.pop("max_depth"))


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: unwinds like KeyboardInterrupt, so unfinished outputs are removed."""

    def __init__(self, exit_code: int, what: str) -> None:
        super().__init__(what)
        self.exit_code = exit_code


def _on_signal(signum: int, frame: object) -> None:
    raise Interrupted(128 + signum, "interrupted" if signum == signal.SIGINT else "terminated")


class _Parity(click.Group):
    """The ``parity`` group: one-line usage errors, exit 130/143 on Ctrl-C/SIGTERM, and
    exit 3 with the traceback for a bug (parity's or an adapter's), never 1 ("diverged").

    Frameworks' warnings (torch, zipfile, numpy) are kept off stderr unless ``--debug``.
    """

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = {number: signal.signal(number, _on_signal)
                    for number in (signal.SIGINT, signal.SIGTERM)} if on_main_thread else {}
        code: Any = 0
        try:
            with warnings.catch_warnings():
                if "--debug" not in argv:
                    warnings.simplefilter("ignore")
                code = super().main(argv, prog_name, complete_var, standalone_mode=False,
                                    **extra)
        except (KeyboardInterrupt, click.exceptions.Abort):
            code = _interrupted(Interrupted(130, "interrupted"))
        except Interrupted as exc:
            code = _interrupted(exc)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message())
            code = exc.exit_code
        except click.ClickException as exc:
            click.echo(f"parity: error: {_usage_line(exc)}", err=True)
            code = exc.exit_code
        except Exception as exc:  # not a ParityError: a bug, whose traceback is the report
            code = _internal_error(exc)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        sys.exit(code)


def _interrupted(exc: Interrupted) -> int:
    """One line; on a terminal it starts a line of its own after the echoed ``^C``."""
    start = "\n" if sys.stderr.isatty() else ""
    click.echo(f"{start}parity: {exc}", err=True)
    return exc.exit_code


INTERNAL_ERROR = 3


def _internal_error(exc: Exception) -> int:
    """The traceback, then one line saying this is a bug and not a divergence."""
    traceback.print_exc()
    click.echo(f"parity: internal error: {type(exc).__name__}: {exc} (a bug, not a "
               "divergence: please report it with the traceback above)", err=True)
    return INTERNAL_ERROR


def _usage_line(exc: click.ClickException) -> str:
    """A click error as one line, naming the --help of the command it came from."""
    text = " ".join(exc.format_message().split())
    context = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and context is not None:
        command = " ".join(["parity", *context.command_path.split(" ")[1:]])
        text += f" (see '{command} --help')"
    return text


@click.group(cls=_Parity, context_settings={"help_option_names": ["-h", "--help"],
                                          "auto_envvar_prefix": "PARITY"})
@click.option("--debug", is_flag=True, help="Show tracebacks and warnings.")
@click.version_option(package_name="parity")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Find the first layer where two versions of a neural network disagree.

    Defaults come from [tool.parity] in the nearest pyproject.toml, then
    PARITY_<COMMAND>_<OPTION> environment variables (PARITY_COMPARE_ATOL=1e-4), then the
    command line.
    """
    _load_project_defaults(ctx)


def _load_project_defaults(ctx: click.Context) -> None:
    """``[tool.parity]`` of the nearest pyproject.toml as the subcommands' defaults."""
    from .errors import ParityError
    from .project_defaults import default_map

    try:
        ctx.default_map = default_map(cli, Path.cwd())
    except ParityError as exc:
        click.echo(f"parity: error: {exc}", err=True)
        sys.exit(exc.exit_code)


def _trust_code_option(command: F) -> F:
    """--trust-code: let a model file run its own code (trusted files only)."""
    return click.option(
        "--trust-code", is_flag=True,
        help="Let model files run code: Keras Lambda layers, TorchScript/torch.export ops "
             "that touch files, the network or the process (trusted files only).")(command)


def _force_option(command: F) -> F:
    """--force: replace an existing output (never an input)."""
    return click.option("--force", is_flag=True,
                        help="Replace existing output files or a saved run.")(command)


def _check_writes(options: dict[str, Any], outputs: list[tuple[str, Path | None]],
                  inputs: list[Any]) -> None:
    """Outputs that exist (without --force) or that are inputs, refused before any work."""
    from .safe_io import check_outputs

    paths = [str(p).rsplit(":", 1)[0] if isinstance(p, str) and not Path(p).exists() else p
             for p in inputs]
    check_outputs(outputs, paths, options["force"])


def _side_options(command: F) -> F:
    """--a-*/--b-* preprocessing options for --image."""
    for side in ("b", "a"):
        upper = side.upper()
        command = click.option(f"--{side}-layout", type=click.Choice(("NCHW", "NHWC")),
                               help=f"Tensor layout fed to {upper}.")(command)
        command = click.option(f"--{side}-rgb/--{side}-bgr", default=None,
                               help=f"Channel order fed to {upper}.")(command)
        command = click.option(f"--{side}-std", help=f"Std dividing {upper}'s input "
                               "(one value or per channel: 58.4,57.1,57.4).")(command)
        command = click.option(f"--{side}-scale", type=float,
                               help=f"Factor applied to {upper}'s input after the mean.")(command)
        command = click.option(f"--{side}-mean", help=f"Mean subtracted from {upper}'s input "
                               "(one value or per channel).")(command)
    return command


def _backend_options(command: F) -> F:
    """--a-backend/--b-backend: which runtime runs each side (``parity backends``)."""
    for side in ("b", "a"):
        command = click.option(
            f"--{side}-backend", metavar="NAME",
            help=f"Backend running {side.upper()} (default: by its format; e.g. opencv, "
                 "openvino or onnxref for an .onnx).")(command)
    return command


def _model_explorer_option(command: F) -> F:
    return click.option("--model-explorer", "model_explorer", type=click.Path(path_type=Path),
                        metavar="DIR", help="Write node data for Google's Model Explorer in DIR: "
                        "each node coloured by its error, the first divergence in red.")(command)


def _verbosity_options(command: F) -> F:
    """-q (the verdict line only) and -v (how pairs were aligned, every unmatched node)."""
    command = click.option("-v", "--verbose", count=True,
                           help="Also show how each pair was aligned and every unmatched and "
                                "skipped node.")(command)
    return click.option("-q", "--quiet", is_flag=True,
                        help="Print only the verdict line.")(command)


def _error_stat_options(command: F) -> F:
    """--error-stat/--error-quantile: the statistic of the error judged (Polygraphy's
    --check-error-stat)."""
    from .error_stat_names import CHOICES

    command = click.option(
        "--error-quantile", type=float, metavar="Q",
        help="The quantile of --error-stat quantile, between 0 and 1 (default 0.99).")(command)
    return click.option(
        "--error-stat", type=click.Choice(CHOICES),
        help="Statistic of |a - b| judged: rms (the numerics rule's default), elemwise "
             "(--atol/--rtol's default: every element), max, mean, median or quantile; see "
             "docs/numerics.md.")(command)


def _backend_option(command: F) -> F:
    """--backend: which runtime runs MODEL (``parity backends``)."""
    return click.option("--backend", metavar="NAME",
                        help="Backend running MODEL (default: by its format).")(command)


def _input_options(command: F) -> F:
    """What the models are fed: --image, --input, --inputs, --random (the default), --seed,
    --input-shape, --val-range (compare's; align's and inspect's too, see
    :func:`_record_graphs`)."""
    for option in reversed((
        click.option("--image", "images", type=click.Path(path_type=Path), multiple=True,
                     help="Image decoded once (cv2.imread) and fed to each side through its "
                          "pipeline; repeat it or give a folder to compare on several images."),
        click.option("--input", "input_file", type=click.Path(path_type=Path),
                     help="One input array (.npy) fed to both models."),
        click.option("--inputs", "inputs_file", type=click.Path(path_type=Path),
                     help="Named input arrays (.npz) fed to both models, or a folder of .npz "
                          "files."),
        click.option("--random", "use_random", is_flag=True,
                     help="Seeded random inputs typed as the models declare: normal floats, "
                          "ids within the table they index, 0/1 masks (the default when no "
                          "input is given)."),
        click.option("--seed", default=0, type=click.IntRange(0), show_default=True,
                     help="Seed for --random."),
        click.option("--input-shape", help="Shape for random inputs, e.g. 1,3,224,224."),
        click.option("--val-range", help="LO,HI of random floats (uniform) and of random "
                     "integer inputs that index no table (LO <= i < HI); ids and masks are "
                     "typed anyway."),
    )):
        command = option(command)
    return command


def _preprocessing_options(command: F) -> F:
    """--a-*/--b-* and --config: each side's pipeline for --image."""
    command = click.option("--config", type=click.Path(path_type=Path),
                           help="TOML file with [a] and [b] tables of preprocessing "
                                "options.")(command)
    return _side_options(command)


_INPUT_SOURCES = {"--image": "images", "--input": "input_file", "--inputs": "inputs_file",
                  "--random": "use_random"}


def _input_source(options: dict[str, Any]) -> dict[str, Any]:
    """The input options as :func:`parity.api.make_samples`' keywords, checked before any
    model loads: one source at most, preprocessing options only with --image."""
    from .config import preprocessing_options
    from .errors import UsageError
    from .inputs import parse_shape

    chosen = [flag for flag, key in _INPUT_SOURCES.items() if options[key]]
    if len(chosen) > 1:
        raise UsageError(f"choose one input source, not {' and '.join(chosen)}")
    options_a, options_b = preprocessing_options(options.get("config"), options)
    if (options_a or options_b) and not options["images"]:
        raise UsageError("preprocessing options (--a-*/--b-*, --config) need --image")
    shape = options["input_shape"]
    return {"inputs": options["input_file"] or options["inputs_file"], "seed": options["seed"],
            "input_shape": parse_shape(shape) if shape else None,
            "val_range": _val_range(options["val_range"]),
            "image": list(options["images"]) or None,
            "preprocess_a": options_a, "preprocess_b": options_b}


@cli.command()
@click.argument("model_a")
@click.argument("model_b")
@_input_options
@_preprocessing_options
@click.option("--samples", default=1, show_default=True,
              help="How many random inputs (seeds SEED, SEED+1, ...); each pair is judged on "
                   "its worst.")
@click.option("--map", "mapping_file", type=click.Path(path_type=Path),
              help="TOML/JSON file of a_node = \"b_node\" pairs that override alignment.")
@click.option("--a-weights", type=click.Path(path_type=Path), help="Weights file for model A.")
@click.option("--b-weights", type=click.Path(path_type=Path), help="Weights file for model B.")
@_trust_code_option
@_backend_options
@click.option("--a-epoch", type=int, help="MXNet checkpoint epoch of model A (default: newest).")
@click.option("--b-epoch", type=int, help="MXNet checkpoint epoch of model B (default: newest).")
@click.option("--atol", multiple=True, metavar="[NAME=]VALUE",
              help="Judge pairs by numpy allclose with this absolute tolerance instead of the "
                   "numerics rule; NAME=VALUE (glob, repeatable) for matching nodes only.")
@click.option("--rtol", multiple=True, metavar="[NAME=]VALUE",
              help="Relative tolerance of allclose (as --atol; the other one defaults to 1e-5).")
@_error_stat_options
@click.option("--min-coverage", default=0.5, show_default=True,
              help="Fail when fewer than this fraction of either model's nodes were compared.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), help="Write the report to FILE.")
@click.option("--all", "show_all", is_flag=True, help="Show every row of the table.")
@_verbosity_options
@_model_explorer_option
@click.option("--save-tensors", type=click.Path(path_type=Path),
              help="Save every compared tensor of both sides (npz) and the JSON report in DIR.")
@_force_option
@_friendly_errors
def compare(model_a: str, model_b: str, **options: Any) -> None:
    """Run MODEL_A and MODEL_B once each and report where they first diverge."""
    from .align.mapping_file import read_mapping
    from .api import compare as run_compare
    from .api import model_loader

    _check_output(options["fmt"], options["output"])
    _check_writes(options, [("--output", options["output"]),
                            ("--save-tensors", options["save_tensors"]),
                            *_model_explorer_files(options["model_explorer"], model_a, model_b)],
                  [model_a, model_b, *(options[k] for k in (
                      "a_weights", "b_weights", "input_file", "inputs_file",
                      "mapping_file", "config")), *options["images"]])
    source = _input_source(options)
    mapping = read_mapping(options["mapping_file"]) if options["mapping_file"] else None
    atol = [*options["atol"], *(mapping.tolerance_options("atol") if mapping else ())]
    rtol = [*options["rtol"], *(mapping.tolerance_options("rtol") if mapping else ())]
    with _progress(f"loading {model_a}") as status:
        load_a, load_b = (model_loader(model, options[f"{side}_weights"],
                                       **_load_options(options, side))
                          for model, side in ((model_a, "a"), (model_b, "b")))
        backend_a = load_a()
        status.update(f"loading {model_b}")
        backend_b = load_b()
        status.update("running both models and comparing")
        report = run_compare(
            backend_a,
            backend_b,
            **source,
            samples=options["samples"],
            mapping=mapping,
            atol=atol or None,
            rtol=rtol or None,
            save_tensors=options["save_tensors"],
            min_coverage=options["min_coverage"],
            force=options["force"],
            error_stat=options["error_stat"],
            error_quantile=options["error_quantile"],
        )
    _emit_report(report, options["fmt"], options["output"], options["show_all"],
                 _verbosity(options), force=options["force"])
    _write_model_explorer(report, options["model_explorer"], options["force"])
    sys.exit(0 if report.ok else 1)


def _progress(text: str) -> Any:
    """A spinner on stderr while models load and run, silent unless stderr is a terminal."""
    from rich.console import Console

    return Console(stderr=True, quiet=not sys.stderr.isatty()).status(text)


def _epoch(epoch: int | None) -> dict[str, int]:
    return {} if epoch is None else {"epoch": epoch}


def _trusted(trust_code: bool) -> dict[str, bool]:
    return {"trust_code": True} if trust_code else {}


def _load_options(options: dict[str, Any], side: str) -> dict[str, Any]:
    """Backend options for one side: the backend chosen, MXNet epoch, trust_code."""
    loaded: dict[str, Any] = {**_epoch(options[f"{side}_epoch"]),
                              **_trusted(options["trust_code"])}
    if options[f"{side}_backend"]:
        loaded["backend"] = options[f"{side}_backend"]
    return loaded


def _model_explorer_files(folder: Path | None, a: str, b: str) -> list[tuple[str, Path]]:
    """The files ``--model-explorer DIR`` will write, for the check before any work."""
    from .render.model_explorer import file_names

    return [] if folder is None else [("--model-explorer", folder / n) for n in file_names(a, b)]


def _saved_paths(folder: Path) -> tuple[str, str]:
    """The model paths of a saved run (for the names of its Model Explorer files)."""
    from .saved_run import load_report

    try:  # read with load_report's checks (no pipe opened, nesting capped)
        saved = load_report(folder)
    except ParityError:
        return "a", "b"  # load_report says what is wrong with the file when it runs
    return saved.a.path, saved.b.path


def _write_model_explorer(report: Any, folder: Path | None, force: bool) -> None:
    """``--model-explorer DIR``: one node data file per side."""
    if folder is None:
        return
    from .errors import UsageError
    from .render.model_explorer import node_data_files
    from .safe_io import write_file

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the folder ({exc.strerror})") from None
    for name, text in node_data_files(report).items():
        data = text.encode("utf-8")
        write_file(folder / name, lambda handle, data=data: handle.write(data), force)
        click.echo(f"Model Explorer node data written to {folder / name}", err=True)


def _verbosity(options: dict[str, Any]) -> int:
    return -1 if options["quiet"] else options["verbose"]


def _emit_report(report: Any, fmt: str, output: Path | None, show_all: bool,
                 verbosity: int = 0, force: bool = False) -> None:
    """The report to FILE or stdout; with a FILE the terminal still gets the verdict, the
    first divergence and the hints."""
    from .render.html import render_html
    from .render.json import render_json
    from .render.markdown import render_markdown
    from .render.text import print_brief, print_report, render_text
    from .safe_io import write_file

    width, wrap = _terminal_width(), sys.stdout.isatty()
    renderers = {"json": render_json, "markdown": render_markdown, "html": render_html,
                 "table": lambda r: render_text(r, show_all=show_all, verbosity=verbosity)}
    console = _console(width)
    if output is not None:
        text = renderers[fmt](report).encode("utf-8")
        write_file(output, lambda handle: handle.write(text), force)
        if verbosity < 0:
            print_report(console, report, width=width, verbosity=verbosity, wrap=wrap)
        else:
            print_brief(console, report, wrap=wrap)
        click.echo(f"report written to {output}", err=True)
    elif fmt == "table":
        print_report(console, report, width=width, show_all=show_all, verbosity=verbosity,
                     wrap=wrap)
    else:
        click.echo(renderers[fmt](report), nl=False)


def _terminal_width() -> int | None:
    """The terminal's width; when piped, ``$COLUMNS`` if set, else None (nothing wrapped)."""
    import os
    import shutil

    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def _check_output(fmt: str, output: Path | None) -> None:
    """Fail before any work when the chosen format cannot go where asked."""
    from .errors import UsageError

    if fmt == "html" and output is None:
        raise UsageError("--format html needs --output FILE.html")


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), help="Write the report to FILE.")
@click.option("--all", "show_all", is_flag=True, help="Show every row of the table.")
@_verbosity_options
@_model_explorer_option
@_force_option
@_friendly_errors
def report(folder: Path, fmt: str, output: Path | None, show_all: bool, force: bool,
           **options: Any) -> None:
    """Re-render a run saved with --save-tensors (or a JSON report), no framework needed."""
    from .saved_run import load_report

    _check_output(fmt, output)
    _check_writes({"force": force}, [("--output", output), *_model_explorer_files(
                      options["model_explorer"], *_saved_paths(folder))],
                  [folder / "report.json" if folder.is_dir() else folder])
    saved = load_report(folder)
    _emit_report(saved, fmt, output, show_all, _verbosity(options), force=force)
    _write_model_explorer(saved, options["model_explorer"], force)
    sys.exit(0 if saved.ok else 1)


@cli.command()
@click.argument("model")
@click.option("--node", "nodes", multiple=True, required=True,
              help="Node to run to (repeat for several; one forward pass).")
@click.option("--weights", type=click.Path(path_type=Path), help="Weights file for MODEL.")
@click.option("--image", type=click.Path(path_type=Path),
              help="Image fed through the model's default pipeline (see compare --image).")
@click.option("--input", "input_file", type=click.Path(path_type=Path), help="Input .npy/.npz.")
@click.option("--seed", default=0, type=click.IntRange(0), show_default=True,
              help="Seed of random inputs.")
@click.option("--input-shape", help="Shape for random inputs, e.g. 1,3,224,224.")
@click.option("--val-range", help="LO,HI of random floats (uniform) and of random integer "
              "inputs that index no table (LO <= i < HI); ids and masks are typed anyway.")
@click.option("--save", type=click.Path(path_type=Path),
              help="Save the tensors: .npy for one node, .npz for several.")
@_backend_option
@_trust_code_option
@_force_option
@_friendly_errors
def run(model: str, nodes: tuple[str, ...], weights: Path | None, image: Path | None,
        input_file: Path | None, seed: int, input_shape: str | None, val_range: str | None,
        save: Path | None, backend: str | None, trust_code: bool, force: bool) -> None:
    """Run MODEL once to the named nodes and print statistics of their tensors."""
    from .api import make_feeds, open_model
    from .inputs import parse_shape
    from .render.text import tensor_stats

    _check_writes({"force": force}, [("--save", save)], [model, weights, image, input_file])
    if save is not None:
        _check_save_name(save, len(set(nodes)))
    loaded = open_model(model, weights, backend=backend, **_trusted(trust_code))
    feeds, _ = make_feeds(loaded, loaded, input_file, seed=seed, image=image,
                          input_shape=parse_shape(input_shape) if input_shape else None,
                          val_range=_val_range(val_range))
    values = loaded.run(feeds.arrays, list(nodes))
    click.echo(f"{loaded.path} [{loaded.name}], fed {feeds.description}")
    for name, value in values.items():
        click.echo(tensor_stats(name, value))
    if save is not None:
        _save_arrays(save, values, force)


def _val_range(text: str | None) -> tuple[float, float] | None:
    from .inputs import parse_val_range

    return parse_val_range(text) if text else None


def _check_save_name(path: Path, count: int) -> None:
    """``--save x.npy`` holds one array; several need ``.npz``; the name is used as given."""
    from .errors import UsageError

    if count > 1 and path.suffix.lower() != ".npz":
        raise UsageError(f"--save {path}: {count} nodes are saved as one .npz archive; "
                         "name the file .npz")


def _save_arrays(path: Path, values: dict[str, Any], force: bool) -> None:
    """The tensors at exactly ``path``: one array as .npy, else an .npz archive."""
    import numpy as np

    from .safe_io import write_file

    if len(values) == 1 and path.suffix.lower() != ".npz":
        array = next(iter(values.values()))
        write_file(path, lambda handle: np.save(handle, array, allow_pickle=False), force)
    else:
        write_file(path, lambda handle: np.savez(handle, **values), force)
    click.echo(f"saved to {path}", err=True)


@cli.command()
@click.argument("model_a")
@click.argument("model_b")
@click.option("--map", "mapping_file", type=click.Path(path_type=Path),
              help="TOML/JSON file of a_node = \"b_node\" pairs that override alignment.")
@click.option("--a-weights", type=click.Path(path_type=Path), help="Weights file for model A.")
@click.option("--b-weights", type=click.Path(path_type=Path), help="Weights file for model B.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True)
@_input_options
@_preprocessing_options
@_backend_options
@_trust_code_option
@_friendly_errors
def align(model_a: str, model_b: str, mapping_file: Path | None, a_weights: Path | None,
          b_weights: Path | None, fmt: str, a_backend: str | None, b_backend: str | None,
          trust_code: bool, **inputs: Any) -> None:
    """Show how the nodes of MODEL_A and MODEL_B are paired (no forward pass, except for a
    model whose graph is recorded by running it: it runs on the input compare would feed)."""
    import json

    from .align import align as align_graphs
    from .align.mapping_file import read_mapping
    from .api import model_loader
    from .render.json import alignment_dict
    from .render.text import alignment_renderable

    source = _input_source(inputs)
    loaders = [model_loader(model, weights, backend=backend, **_trusted(trust_code))
               for model, weights, backend in ((model_a, a_weights, a_backend),
                                               (model_b, b_weights, b_backend))]
    backend_a, backend_b = (load() for load in loaders)
    _record_graphs(backend_a, backend_b, source, _input_given(inputs))
    graph_a, graph_b = backend_a.graph, backend_b.graph
    mapping = read_mapping(mapping_file) if mapping_file else None
    alignment = align_graphs(graph_a, graph_b, mapping)
    if fmt == "json":
        click.echo(json.dumps(alignment_dict(alignment, graph_a, graph_b), indent=2))
    else:
        _console().print(alignment_renderable(alignment, graph_a, graph_b))


@cli.command()
@click.argument("model")
@click.option("--weights", type=click.Path(path_type=Path), help="Weights file for MODEL.")
@click.option("--epoch", type=int, help="MXNet checkpoint epoch (default: newest).")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True)
@_input_options
@_backend_option
@_trust_code_option
@_friendly_errors
def inspect(model: str, weights: Path | None, epoch: int | None, fmt: str,
            backend: str | None, trust_code: bool, **inputs: Any) -> None:
    """List MODEL's nodes in topological order: name, op, output shape, attributes (a model
    whose graph is recorded by running it runs on the input compare would feed it)."""
    import json

    from .api import open_model

    source = _input_source(inputs)
    loaded = open_model(model, weights, backend=backend, **_epoch(epoch),
                        **_trusted(trust_code))
    _record_graphs(loaded, loaded, source, _input_given(inputs))
    graph = loaded.graph
    if fmt == "json":
        click.echo(json.dumps({
            "path": str(loaded.path),
            "backend": loaded.name,
            "inputs": [{"name": s.name, "shape": s.shape, "dtype": s.dtype} for s in graph.inputs],
            "nodes": [{"name": n.name, "op": n.op, "inputs": list(n.inputs),
                       "shape": n.shape, "attrs": dict(n.attrs)} for n in graph.nodes],
            "outputs": list(graph.outputs),
        }, indent=2, default=str))
        return
    from rich.table import Table

    from .graph import dims_text

    table = Table(title=f"{loaded.path} [{loaded.name}]", show_edge=False, header_style="bold")
    for column in ("#", "node", "op", "shape", "attrs"):
        table.add_column(column)
    for index, node in enumerate(graph.nodes):
        shape = dims_text(node.shape)
        attrs = " ".join(f"{k}={v}" for k, v in node.attrs.items())
        table.add_row(str(index), node.name, node.op, shape, attrs)
    console = _console()
    for spec in graph.inputs:
        shape = "not recorded" if spec.shape is None else dims_text(spec.shape)
        dtype = f" {spec.dtype}" if spec.dtype else ""
        console.print(f"input {spec.name}: shape {shape}{dtype}")
    console.print(table)


def _input_given(options: dict[str, Any]) -> bool:
    return any(options[key] for key in _INPUT_SOURCES.values())


def _record_graphs(a: Any, b: Any, source: dict[str, Any], given: bool) -> None:
    """Let a model whose graph is recorded by running it (a factory torch.fx cannot trace)
    or whose shapes come from a run (TorchScript slices with computed bounds) run on
    compare's first input, so align and inspect show the ops and pairs compare uses.

    Random inputs are the default; when none can be drawn (no shape known) and no input was
    given, a note says what is shown instead (the module tree, a graph without shapes).
    """
    from .api import make_samples
    from .errors import UsageError

    if not given and not (a.graph_needs_input or b.graph_needs_input):
        return
    try:
        runs, _, _ = make_samples(a, b, **source)
    except UsageError as exc:
        if given:
            raise
        waiting = a if a.graph_needs_input else b
        click.echo(f"parity: note: {waiting.label} shows {waiting.graph_before_input}: "
                   f"{exc}", err=True)
        return
    a.observe(runs[0].feeds_a)
    b.observe(runs[0].feeds_b)


def _console(width: int | None = None) -> Any:
    """A rich console: the terminal's own, or when piped one as wide as ``width`` (or
    unlimited, so node names and prose are never cut in logs and pasted reports)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=width or 100_000, highlight=False)


@cli.command()
@click.argument("sweep_file", metavar="SWEEP.toml", type=click.Path(path_type=Path))
@click.option("--output", type=click.Path(path_type=Path),
              help="Folder for summary.json, summary.md and pairs/*/report.json "
                   "(default: SWEEP.results next to the file).")
@click.option("--jobs", type=int, help="Pairs run at once locally (default: what the CPUs "
                                       "and the available memory allow).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None,
              metavar="[ADDRESS]", help="Run each pair as a Ray task: a local instance, or "
                                        "the cluster at ADDRESS (put --ray after SWEEP.toml).")
@click.option("--save-tensors", is_flag=True,
              help="Also save every compared tensor in each pair's folder.")
@click.option("--format", "fmt", type=click.Choice(("table", "markdown", "json")),
              default="table", show_default=True, help="What is printed.")
@_friendly_errors
def sweep(sweep_file: Path, output: Path | None, jobs: int | None, ray_address: str | None,
          save_tensors: bool, fmt: str) -> None:
    """Compare every pair of SWEEP.toml (models x exporters x inputs); name the worst."""
    import time

    from .sweep import Summary, read_sweep, run_pairs
    from .sweep.engines import local_workers
    from .sweep.summary import render_json, render_markdown, renderable, write

    spec = read_sweep(sweep_file)
    folder = output or sweep_file.with_suffix(".results")
    workers = 1 if ray_address is not None else local_workers(spec.pairs, jobs)
    engine = (f"Ray ({ray_address or 'local instance'})" if ray_address is not None
              else f"{workers} local process{'es' if workers > 1 else ''}")
    started = time.perf_counter()
    with _progress(f"running {len(spec.pairs)} pairs on {engine}"):
        outcomes = list(run_pairs(spec.pairs, workers=workers, ray_address=ray_address,
                                  save_tensors=folder / "pairs" if save_tensors else None))
    summary = Summary.of(spec, outcomes, engine, time.perf_counter() - started)
    write(summary, folder)
    if fmt == "table":
        _console().print(renderable(summary))
    else:
        click.echo({"json": render_json, "markdown": render_markdown}[fmt](summary), nl=False)
    click.echo(f"summary and one saved run per pair in {folder}", err=True)
    sys.exit(0 if summary.ok else 1)


@cli.command()
def backends() -> None:
    """List every backend: its framework's version, whether it runs here, what it opens."""
    from rich.table import Table

    from .errors import BackendUnavailable
    from .registry import backend_class, records

    table = Table(show_edge=False, header_style="bold")
    for column in ("backend", "framework", "version", "runs here", "opens"):
        table.add_column(column)
    for info in records().values():
        try:
            backend_class(info.name)
            state = "yes"
        except BackendUnavailable:
            state = f"no: pip install 'parity[{info.extra}]'"
        except Exception as exc:  # an adapter bug: say so, keep listing the others
            state = f"no: {exc}"
        table.add_row(info.name, info.runtime or info.framework, info.version() or "-",
                      state, info.formats)
    _console().print(table)


def main() -> None:
    """Console-script entry point: the process is parity's (:mod:`parity.startup`)."""
    own_process()
    cli(prog_name="parity")
