"""The synthetic org: `generate` builds it deterministically from a seed; `business.advance` plays days forward.

`org` lays out users, prospects and customers and the ground truth; `customer` writes one customer's account,
contacts and deals and `activity` the rest of its history, both over a `history.CustomerHistory`; `scenarios`
plants the risk signals on top, `dirty` damages background rows; `base` builds rows, ids and stamps; `names` and
`profile` hold what they draw from. `business.advance` works on a served org through its write API, from a
`snapshot`. docs/simulator-org.md.
"""

from simulator.generator.org import SIGNALS, GeneratedOrg, allocation, generate

__all__ = ["SIGNALS", "GeneratedOrg", "allocation", "generate"]
