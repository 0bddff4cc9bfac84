"""``python3 -m hoplab_shims SCHEDULER COMMAND ARGS...``: run one shim command."""

from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING

from . import htcondor, lsf, oar, pbs
from .engine import ShimError

if TYPE_CHECKING:
    from collections.abc import Callable


def main(argv: list[str]) -> int:
    scheduler, command, args = argv[0], argv[1], argv[2:]
    run: Callable[[list[str]], int]
    if scheduler in {"pbs", "torque"}:
        run = partial(pbs.COMMANDS[command], scheduler)
    else:
        run = {"lsf": lsf.COMMANDS, "oar": oar.COMMANDS, "htcondor": htcondor.COMMANDS}[scheduler][
            command
        ]
    try:
        return run(args)
    except ShimError as exc:
        print(exc, file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
