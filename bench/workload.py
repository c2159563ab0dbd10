"""The benchmark's customers and their events: deterministic ids and realistic Segment messages.

``Population`` names every seeded profile's identifiers from its index alone (no table kept in
memory), so a million profiles can be written to the database and then looked up by the load
generator. ``EventStream`` produces what a web shop's analytics.js would send for them: mostly
track and page calls of known, logged-in customers, identifies with traits, and a share of
events that bring an identifier the graph has not seen (a new device's anonymousId, a first-time
visitor, a new email or phone), plus the occasional login of an earlier anonymous visitor,
which merges two profiles.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MASK64 = (1 << 64) - 1
FIRST = ("olena", "andrii", "iryna", "taras", "oksana", "dmytro", "kateryna", "serhii", "maria")
LAST = ("shevchenko", "kovalenko", "bondarenko", "tkachenko", "kravchenko", "melnyk", "boyko")
DOMAINS = ("gmail.com", "ukr.net", "outlook.com", "i.ua", "proton.me")
PLANS = ("free", "basic", "pro")
PATHS = ("/", "/catalog/shoes", "/catalog/bags", "/sale", "/cart", "/blog/care-guide")
PRODUCTS = [(f"sku-{n:05d}", f"Product {n}", round(99 + n * 7.5, 2)) for n in range(500)]
TRACKED = (
    ("Product Viewed", 50),
    ("Product Added", 20),
    ("Cart Viewed", 12),
    ("Checkout Started", 10),
    ("Order Completed", 8),
)
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
LIBRARY = {"name": "analytics.js", "version": "next-1.72.0"}


def mix64(value: int) -> int:
    """SplitMix64's finaliser: a bijection, so distinct inputs give distinct random-looking ids."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def uuid_from(value: int) -> str:
    """A version-4-shaped UUID string derived from an integer (unique per integer)."""
    high, low = mix64(value), mix64(value ^ 0x5BD1E995_5BD1E995)
    return str(uuid.UUID(int=(high << 64) | low, version=4))


@dataclass(frozen=True)
class Population:
    """Identifiers of profile ``i`` (0 ≤ i < size) and of the new ones events bring later."""

    size: int

    @staticmethod
    def profile_id(i: int) -> str:
        return f"018f0000-0000-7000-8000-{i:012x}"

    @staticmethod
    def user_id(i: int) -> str:
        return f"cus_{mix64(i):016x}"

    @staticmethod
    def anonymous_id(i: int, device: int = 0) -> str:
        return uuid_from(i * 64 + device)

    @staticmethod
    def email(i: int, n: int = 0) -> str:
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        suffix = f"{i}" if n == 0 else f"{i}.{n}"
        return f"{first}.{last}.{suffix}@{DOMAINS[(i + n) % len(DOMAINS)]}"

    @staticmethod
    def phone(i: int, n: int = 0) -> str:
        return f"+38067{(i * 8 + n) % 10_000_000:07d}"

    @staticmethod
    def name(i: int) -> str:
        return f"{FIRST[i % len(FIRST)].title()} {LAST[(i // len(FIRST)) % len(LAST)].title()}"

    @staticmethod
    def visitor_id(n: int) -> str:
        """The anonymousId of the n-th first-time visitor (disjoint from every profile's)."""
        return uuid_from((1 << 62) + n)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def context(rng: random.Random, path: str) -> dict[str, Any]:
    return {
        "library": LIBRARY,
        "page": {
            "path": path,
            "url": f"https://shop.example.com{path}",
            "referrer": "https://www.google.com/",
            "title": "Shop",
        },
        "userAgent": USER_AGENT,
        "ip": f"93.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "locale": "uk-UA",
        "timezone": "Europe/Kyiv",
    }


def track_properties(rng: random.Random, event: str) -> dict[str, Any]:
    sku, name, price = PRODUCTS[rng.randrange(len(PRODUCTS))]
    if event == "Order Completed":
        return {
            "order_id": f"ord_{rng.getrandbits(48):012x}",
            "total": round(price * 2, 2),
            "currency": "UAH",
            "products": [
                {"product_id": sku, "name": name, "price": price, "quantity": 1},
                {"product_id": "sku-00001", "name": "Product 1", "price": 106.5, "quantity": 1},
            ],
        }
    return {"product_id": sku, "name": name, "price": price, "currency": "UAH", "category": "shoes"}


class EventStream:
    """Segment messages over a ``Population``; ``new_share`` of them bring a new identifier."""

    def __init__(self, population: Population, *, new_share: float, seed: int = 7) -> None:
        self.people = population
        self.new_share = new_share
        self.rng = random.Random(seed)
        self.devices: dict[int, int] = {}  # profile → extra anonymousIds it was given
        self.emails: dict[int, int] = {}
        self.phones: dict[int, int] = {}
        self.visitors = 0
        self.waiting_login: deque[int] = deque()  # first-time visitors who may log in later
        self.event_names = [name for name, _ in TRACKED]
        self.event_weights = [weight for _, weight in TRACKED]
        self.messages = 0

    def batch_body(self, size: int, now: datetime) -> dict[str, Any]:
        """A ``/v1/batch`` body as analytics.js sends it."""
        return {"batch": [self.message(now) for _ in range(size)], "sentAt": iso(now)}

    def message(self, now: datetime) -> dict[str, Any]:
        self.messages += 1
        rng = self.rng
        if rng.random() < self.new_share:
            return self._with_new_identifier(now)
        if self.waiting_login and rng.random() < 0.0125 and self._login_due():
            return self._login(now)
        who = rng.randrange(self.people.size)
        roll = rng.random()
        if roll < 0.2:
            return self._identify(who, now, traits=self._traits(who))
        return self._view(who, now, page=roll < 0.4)

    # --- the 80%: known customers ------------------------------------------------------------

    def _ids(self, who: int) -> dict[str, str]:
        device = self.rng.randint(0, self.devices.get(who, 0))
        return {
            "userId": self.people.user_id(who),
            "anonymousId": self.people.anonymous_id(who, device),
        }

    def _traits(self, who: int) -> dict[str, Any]:
        return {
            "email": self.people.email(who, self.emails.get(who, 0)),
            "name": self.people.name(who),
            "plan": PLANS[who % len(PLANS)],
            "logins": self.rng.randrange(1, 300),
        }

    def _base(self, type_: str, ids: dict[str, str], now: datetime) -> dict[str, Any]:
        path = PATHS[self.rng.randrange(len(PATHS))]
        happened = now - timedelta(milliseconds=self.rng.randrange(5, 30_000))
        return {
            "type": type_,
            "messageId": uuid_from((1 << 63) + self.messages),
            **ids,
            "originalTimestamp": iso(happened),
            "context": context(self.rng, path),
            "integrations": {},
        }

    def _view(self, who: int, now: datetime, *, page: bool) -> dict[str, Any]:
        return self._view_as(self._ids(who), now, page=page)

    def _view_as(self, ids: dict[str, str], now: datetime, *, page: bool) -> dict[str, Any]:
        if page:
            message = self._base("page", ids, now)
            path = message["context"]["page"]["path"]
            message["name"] = "Catalog" if path.startswith("/catalog") else "Home"
            message["properties"] = {"path": path, "url": message["context"]["page"]["url"]}
            return message
        message = self._base("track", ids, now)
        event = self.rng.choices(self.event_names, self.event_weights)[0]
        message["event"] = event
        message["properties"] = track_properties(self.rng, event)
        return message

    def _identify(
        self, who: int, now: datetime, *, traits: dict[str, Any], ids: dict[str, str] | None = None
    ) -> dict[str, Any]:
        message = self._base("identify", ids or self._ids(who), now)
        message["traits"] = traits
        return message

    # --- the 20%: a new identifier -----------------------------------------------------------

    def _with_new_identifier(self, now: datetime) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        who = rng.randrange(self.people.size)
        if roll < 0.5:  # a known customer on a new device or browser
            device = self.devices.get(who, 0) + 1
            self.devices[who] = device
            ids = {
                "userId": self.people.user_id(who),
                "anonymousId": self.people.anonymous_id(who, device),
            }
            return self._view_as(ids, now, page=rng.random() < 0.3)
        if roll < 0.75:  # a first-time visitor: a new profile
            self.visitors += 1
            self.waiting_login.append(self.visitors)
            ids = {"anonymousId": self.people.visitor_id(self.visitors)}
            return self._view_as(ids, now, page=rng.random() < 0.5)
        traits = self._traits(who)
        if roll < 0.9:  # a new email address
            self.emails[who] = self.emails.get(who, 0) + 1
            traits["email"] = self.people.email(who, self.emails[who])
        else:  # a phone number, given in the local format the shop's form takes
            self.phones[who] = self.phones.get(who, 0) + 1
            traits["phone"] = "0" + self.people.phone(who, self.phones[who])[4:]
        return self._identify(who, now, traits=traits)

    # --- logins: a visitor's anonymous profile merges into the customer's ---------------------

    def _login_due(self) -> bool:
        # Leave the visitor's first event a few batches to be resolved on its own first.
        return self.visitors - self.waiting_login[0] > 500

    def _login(self, now: datetime) -> dict[str, Any]:
        visitor = self.waiting_login.popleft()
        who = self.rng.randrange(self.people.size)
        ids = {
            "userId": self.people.user_id(who),
            "anonymousId": self.people.visitor_id(visitor),
        }
        return self._identify(who, now, traits=self._traits(who), ids=ids)
