"""Entry point: ``cnnkit COMMAND ...``.

Each command is a small function over the public API.  Any
:class:`~cnnkit.errors.CnnkitError` becomes one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from cnnkit.errors import CnnkitError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise CnnkitError(f"{message} (see '{self.prog} --help')")


def _configure_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo name (see 'cnnkit models') or a spec file (.yaml/.json)")
    p.add_argument("--input", metavar="C,H,W", help="input volume, overriding the spec's")
    p.add_argument("--num-classes", type=int, help="resize the output layer")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def _run_summary(args: argparse.Namespace) -> int:
    import cnnkit
    from cnnkit.layers import with_num_classes

    spec = cnnkit.resolve_spec(args.model, args.input)
    if args.num_classes is not None:
        spec = with_num_classes(spec, args.num_classes)
    s = cnnkit.summarize(spec)
    print(json.dumps(s.to_dict()) if args.json else s)
    return 0


def _configure_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list")


def _run_models(args: argparse.Namespace) -> int:
    from cnnkit.models import get_entry, list_models

    rows = []
    for name in list_models():
        e = get_entry(name)
        params = e.published.get("params")
        rows.append({"name": name, "aliases": list(e.aliases), "params": params, "input": list(e.spec().input),
                     "dataset": e.dataset, "description": e.description, "source": e.source})
    if args.json:
        print(json.dumps(rows))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        alias = f" (also {', '.join(r['aliases'])})" if r["aliases"] else ""
        shape = "x".join(map(str, r["input"]))
        print(f"{r['name']:<{width}}  {r['params']:>12,} params  {shape:>9}  {r['description']}{alias}")
        print(f"{'':<{width}}  source: {r['source']}")
    return 0


SUBCOMMANDS = {
    "summary": ("per-layer shapes, weights, neurons, connections, MACs and receptive fields",
                _configure_summary, _run_summary),
    "models": ("list the model zoo", _configure_models, _run_models),
}


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnkit", description="Define, inspect, train, evaluate and transfer CNNs.")
    from cnnkit import __version__

    parser.add_argument("--version", action="version", version=f"cnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_, configure, _) in SUBCOMMANDS.items():
        configure(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        return SUBCOMMANDS[args.command][2](args)
    except CnnkitError as exc:
        print(f"cnnkit: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("cnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
