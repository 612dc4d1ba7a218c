"""``python -m pixverse_ui.simulator``: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence

from .. import params
from .config import SimConfig
from .faults import FAIL_SHAPES
from .server import Simulator

#: How the simulator is started when run as a module.
PROG = "python -m pixverse_ui.simulator"


def build_parser(
    parser: argparse.ArgumentParser | None = None, *, prog: str = PROG
) -> argparse.ArgumentParser:
    """The simulator's options (on ``parser`` if given, so a CLI subcommand can reuse them);
    ``prog``: the command its usage and messages name (``pixverse-ui simulator``)."""
    parser = parser or argparse.ArgumentParser(
        prog=prog,
        description="A stand-in AI/ML API for PixVerse v5.5 text- and image-to-video, on "
        "127.0.0.1. It refuses what the real API refuses: an unknown key (401), a body that is "
        "not JSON or breaks the provider's limits (400), any method but GET and POST (405); the "
        "rules are in docs/provider-contract.md.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="how many times faster than real time jobs run "
        "(default: $PIXVERSE_UI_SIM_SPEED or 10)",
    )
    parser.add_argument(
        "--faults",
        default=None,
        help="fault plan, e.g. '503:0.1,429:0.05,drop:0.02' (default: $PIXVERSE_UI_SIM_FAULTS)",
    )
    parser.add_argument(
        "--success-status", choices=sorted(params.SUCCESS_STATUSES), default="completed"
    )
    parser.add_argument(
        "--failure-status", choices=sorted(params.FAILURE_STATUSES), default="error"
    )
    parser.add_argument("--fail-shape", choices=FAIL_SHAPES, default="name")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--api-key",
        action="append",
        default=None,
        metavar="KEY",
        help="accept only this bearer key (repeatable; default: make a random key at start "
        "and print it); any other key gets 401, as from the real API",
    )
    parser.add_argument("--state", default=None, help="SQLite file that keeps jobs across runs")
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="where rendered MP4s are kept (default: $PIXVERSE_UI_SIM_VIDEOS, or a folder "
        "under the system's temp folder)",
    )
    parser.add_argument(
        "--allow-1080p-8s",
        action="store_true",
        help="accept 1080p + 8 s, which the provider's page calls unsupported (by default it "
        "is refused with the page's 400); lets a client that leaves the pair to the server "
        "be tried both ways",
    )
    parser.add_argument(
        "--price-multiple",
        type=float,
        default=1.0,
        help="charge this many times the rate card (default 1): the provider's real prices may "
        "differ from pixverse-ui's card, and its budgets must hold when they do",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """A ``SimConfig`` from the environment, with the command line on top."""
    overrides: dict[str, object] = {
        "success_status": args.success_status,
        "failure_status": args.failure_status,
        "fail_shape": args.fail_shape,
        "seed": args.seed,
        "state_path": args.state,
        "enforce_combo_rules": not args.allow_1080p_8s,
        "price_multiple": args.price_multiple,
    }
    if args.cache_dir is not None:
        overrides["cache_dir"] = args.cache_dir
    if args.speed is not None:
        overrides["speed"] = args.speed
    if args.faults is not None:
        overrides["faults"] = args.faults
    if args.api_key:
        overrides["api_keys"] = frozenset(args.api_key)
    return SimConfig.from_env(**overrides)


def main(
    argv: Sequence[str] | None = None,
    *,
    stop: threading.Event | None = None,
    prog: str = PROG,
) -> int:
    """Run until Ctrl-C (or until ``stop`` is set). Returns the exit status. ``prog``: the
    command the usage names, as the person typed it."""
    parser = build_parser(prog=prog)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stop = stop or threading.Event()
    with Simulator(config, port=args.port) as sim:
        print(
            f"PixVerse simulator at {sim.url} (speed x{config.speed:g}"
            f"{', faults ' + config.faults if config.faults else ''}); Ctrl-C stops it.",
            flush=True,
        )
        if sim.api_key is not None:  # made here: nobody else can know it
            print(
                f"API key: {sim.api_key} (send 'Authorization: Bearer <key>'; "
                "--api-key KEY picks your own)",
                flush=True,
            )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
