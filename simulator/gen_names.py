"""Name material for the synthetic org: people, companies, titles, places (all drawn with a seeded rng)."""

from __future__ import annotations

import random

__all__ = ["CITIES", "INDUSTRIES", "company_name", "person", "slug"]

FIRST = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Daniel", "Lisa",
    "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Priya", "Kimberly", "Paul", "Emily", "Steven",
    "Donna", "Andrew", "Michelle", "Kenji", "Carol", "Joshua", "Amanda", "Kevin", "Melissa", "Brian", "Deborah",
    "Ahmed", "Stephanie", "Timothy", "Rebecca", "Ronald", "Laura", "Wei", "Sharon", "Jason", "Cynthia", "Ines",
    "Kathleen", "Ryan", "Amy", "Jacob", "Angela", "Lucas", "Sofia", "Omar", "Chloe", "Mateo", "Ava", "Noah", "Mia",
)
LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen", "Kowalski", "Schmidt", "Rossi", "Dubois",
    "Tanaka", "Patel", "Okafor", "Larsen", "Novak", "Silva", "Costa", "Murphy", "Kelly", "Fischer", "Weber",
)
_PREFIX = (
    "Acme", "Northwind", "Blue Ridge", "Summit", "Pioneer", "Granite", "Harbor", "Redwood", "Silverline", "Apex",
    "Cascade", "Evergreen", "Ironclad", "Keystone", "Lakeside", "Meridian", "Orchard", "Prairie", "Riverbend",
    "Sterling", "Tidewater", "Vantage", "Westfield", "Zenith", "Beacon", "Cobalt", "Falcon", "Horizon", "Juniper",
    "Landmark", "Maple", "Northstar", "Oakridge", "Pinnacle", "Quarry", "Sapphire", "Trident", "Union", "Vertex",
    "Willow", "Atlas", "Bridgeport", "Crescent", "Delta", "Eastgate", "Frontier", "Gateway", "Highland",
)
_NOUN = (
    "Logistics", "Foods", "Manufacturing", "Energy", "Health", "Freight", "Dairy", "Plastics", "Metals", "Textiles",
    "Farms", "Hospitals", "Packaging", "Utilities", "Builders", "Labs", "Motors", "Paper", "Glass", "Pharma",
    "Bakeries", "Cold Storage", "Printing", "Brewing", "Components", "Mining", "Retail", "Transit", "Water", "Tools",
)
_SUFFIX = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Co", "Corp", "Holdings")
CITIES = (
    ("Chicago", "United States"), ("Dallas", "United States"), ("Denver", "United States"),
    ("Atlanta", "United States"), ("Seattle", "United States"), ("Boston", "United States"),
    ("Toronto", "Canada"), ("Manchester", "United Kingdom"), ("Lyon", "France"), ("Hamburg", "Germany"),
    ("Rotterdam", "Netherlands"), ("Milan", "Italy"), ("Madrid", "Spain"), ("Sydney", "Australia"),
)
INDUSTRIES = ("Agriculture", "Construction", "Education", "Energy", "Healthcare", "Manufacturing", "Manufacturing",
              "Retail", "Technology", "Transportation", "Utilities", "Banking", "Other")
CHAMPION_TITLES = ("Operations Director", "VP Operations", "Head of Facilities", "Plant Manager", "COO")
TITLES = ("Maintenance Manager", "Procurement Lead", "Finance Manager", "Site Engineer", "IT Manager",
          "Shift Supervisor", "Quality Manager", "Office Manager", "CFO", "Technical Buyer")


def person(rng: random.Random) -> tuple[str, str]:
    """A (first, last) name."""
    return rng.choice(FIRST), rng.choice(LAST)


def company_name(index: int, rng: random.Random) -> str:
    """A company name, unique per index (the index picks the prefix/noun pair, the rng the legal form)."""
    p, rest = index % len(_PREFIX), index // len(_PREFIX)
    n, rest = rest % len(_NOUN), rest // len(_NOUN)
    name = f"{_PREFIX[p]} {_NOUN[n]} {rng.choice(_SUFFIX)}"
    return name if rest == 0 else f"{name} {rest + 1}"


def slug(name: str) -> str:
    """A domain-friendly form of a name."""
    return "".join(ch for ch in name.lower() if ch.isalnum())[:30]
