"""A stand-in extra subcommand module (named like its command, as `serve`), for the hook test."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("hello", help="say hello")
    p.add_argument("--name", default="world")


def run(args: argparse.Namespace) -> int:
    print(f"hello {args.name}")
    return 0
