"""The synthetic org: `generate` builds it deterministically from a seed; `business.advance` plays days forward.

`org` lays out users, prospects and customers and the ground truth; `customer` writes one customer's history,
`scenarios` plants the risk signals on top of it, `dirty` damages background rows; `base` builds rows, ids and
stamps; `names` and `profile` hold the names and behaviour profiles they draw from. docs/simulator-org.md.
"""

from simulator.generator.org import SIGNALS, GeneratedOrg, allocation, generate

__all__ = ["SIGNALS", "GeneratedOrg", "allocation", "generate"]
