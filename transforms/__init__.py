"""SQL transforms: staging -> intermediate -> marts (signals, account risk) -> sync, run in the order of order.txt.

`run_transforms(con, as_of, run_id)` is the entry point; thresholds live in `rules.toml` (`load_rules`).
"""

from __future__ import annotations

from transforms.rules import Rules, load_rules
from transforms.runner import TransformResult, run_transforms

__all__ = ["Rules", "TransformResult", "load_rules", "run_transforms"]
