from __future__ import annotations

from hoplab.cli import main

main()
