"""15- and 18-character Salesforce ids: the case-safe suffix, checked against the simulator's own ids."""

from __future__ import annotations

import pytest

from connectors.salesforce.ids import normalize_id
from crm_risk.errors import ConfigError
from simulator.org.ids import make_id


@pytest.mark.parametrize("sobject", ["Account", "Contact", "Case", "Task"])
def test_a_15_character_id_from_a_url_becomes_the_api_id(sobject: str):
    for serial in (1, 61, 3_844, 987_654):
        full = make_id(sobject, serial)
        assert normalize_id(full[:15]) == full
        assert normalize_id(full) == full


def test_known_suffixes_and_bad_ids():
    assert normalize_id("001000000000001") == "001000000000001AAA"
    assert (
        normalize_id("001A0000000AbCd") == "001A0000000AbCdIAK"
    )  # A at 3 -> I; none -> A; A at 1 + C at 3 -> K
    with pytest.raises(ConfigError, match="not a Salesforce id"):
        normalize_id("001-bad")
    with pytest.raises(ConfigError, match="do not match"):
        normalize_id("001A0000000AbCdAAK")
