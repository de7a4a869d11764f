"""Command line: ``valuelab report`` renders the notebooks into HTML reports; ``valuelab elicit
pairwise|dilemmas|survey`` asks a model for a long, resumable run (see :mod:`valuelab.cli_elicit`);
``valuelab lab`` opens the notebooks in JupyterLab (see :mod:`valuelab.lab`)."""

from __future__ import annotations

import argparse
import json
import sys


def _parse_params(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param expects NAME=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    """The ``valuelab`` command.

    ``valuelab report [notebooks ...] [--out DIR] [--param NAME=VALUE ...]``,
    ``valuelab lab [--port N] [--ip ADDRESS] [--no-browser] [--token TOKEN]`` and
    ``valuelab elicit pairwise|dilemmas|survey (--model M | --server URL --server-model NAME)
    --input FILE --output FILE [...]`` (``valuelab elicit KIND --help`` lists the options).

    Returns the exit status: 0 on success, 2 for bad arguments or input (the message names
    the file, row and column).
    """
    parser = argparse.ArgumentParser(prog="valuelab", description="valuelab command line")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="execute notebooks into HTML reports")
    rep.add_argument("notebooks", nargs="*", help="notebooks to render (default: notebooks/NN_*.py)")
    rep.add_argument("--out", default="reports", help="output folder (default: reports)")
    rep.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a notebook parameter (JSON value), may repeat")
    lab = sub.add_parser("lab", help="open the notebooks in JupyterLab (what `make lab` runs)")
    lab.add_argument("--port", type=int, default=None, help="port (default: 8888 or the next free one)")
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    lab.add_argument("--token", default=None, help="the access token (default: a random one, printed)")
    from .cli_elicit import add_elicit_parser

    add_elicit_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "elicit":
        from .cli_elicit import run_elicit

        from .elicit.openai_backend import ServerError

        where = f"valuelab elicit {args.kind}"
        resume = "the answers so far are in the cache: run the same command again to resume"
        try:
            return run_elicit(args)
        except (ValueError, FileNotFoundError) as err:
            print(f"{where}: error: {err}", file=sys.stderr)
            return 2
        except ServerError as err:
            print(f"{where}: server error: {err}; {resume}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{where}: interrupted; {resume}", file=sys.stderr)
            return 130
    if args.command == "lab":
        from .lab import run_lab

        try:
            return run_lab(port=args.port, ip=args.ip, open_browser=not args.no_browser, token=args.token)
        except (RuntimeError, FileNotFoundError) as err:
            print(f"valuelab lab: error: {err}", file=sys.stderr)
            return 2
    if args.command == "report":
        from .report import render_reports

        paths = render_reports(args.out, notebooks=args.notebooks or None, parameters=_parse_params(args.param))
        for p in paths:
            print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
