"""The demo retailer's data: its sources, catalog and customers' cross-channel histories.

A home-and-garden retailer in Ukraine with a web shop, an app, three stores, a call centre,
Telegram, WhatsApp and email. Everything here is pure and deterministic: ``generate`` draws from
one ``random.Random(seed)`` and only places the result in time relative to ``anchor``, so the same
seed gives the same customers, the same identifiers, the same message ids and the same offsets on
every run. The messages are plain Segment-spec dicts, exactly what an SDK or a channel adapter
would send, so the loader can feed them through the real ingestion path.

Identifiers are deliberately messy the way real ones are: e-mails in mixed case, Ukrainian phone
numbers in half a dozen national and international formats, Telegram/WhatsApp/loyalty ids that
reach the profile only through a shared phone number or e-mail. Resolving them into one profile
per person is the platform's job, and the demo shows it doing that.

One customer is Ann, who walks scenario S1 (web → app) as far as the platform reaches today.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DAY = 86_400.0
HISTORY_DAYS = 90
SESSION_SLACK = 3_600.0
CURRENCY = "UAH"

# --- the retailer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSource:
    """A touchpoint system of the demo retailer; ``name`` is what the keys file is keyed by."""

    kind: str
    name: str


WEB = DemoSource("web", "Web shop")
APP = DemoSource("app", "Mobile app")
STORES = (
    DemoSource("pos", "Store Kyiv Khreshchatyk"),
    DemoSource("pos", "Store Lviv Rynok"),
    DemoSource("pos", "Store Odesa Deribasivska"),
)
CALL_CENTRE = DemoSource("call_centre", "Call centre")
TELEGRAM = DemoSource("telegram", "Telegram bot")
WHATSAPP = DemoSource("whatsapp", "WhatsApp Business")
EMAIL = DemoSource("email", "Email newsletters")
SOURCES = (WEB, APP, *STORES, CALL_CENTRE, TELEGRAM, WHATSAPP, EMAIL)


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price: int  # kopiyky: money is integer minor units, never floats


CATALOG = (
    Product("P-FAUCET-01", "Kitchen faucet Eurosmart", "Plumbing", 289_900),
    Product("P-SHOWER-02", "Rain shower set", "Plumbing", 459_000),
    Product("P-SINK-03", "Granite kitchen sink", "Plumbing", 612_500),
    Product("T-DRILL-01", "Cordless drill 18V", "Tools", 349_900),
    Product("T-SAW-02", "Circular saw 1400W", "Tools", 428_000),
    Product("T-LEVEL-03", "Laser level", "Tools", 189_900),
    Product("G-HOSE-01", "Garden hose 25 m", "Garden", 64_900),
    Product("G-MOWER-02", "Electric lawn mower", "Garden", 739_900),
    Product("G-SEEDS-03", "Tomato seeds, 5 packs", "Garden", 12_500),
    Product("W-BEACH-WAGON", "Beach wagon", "Outdoor", 329_000),
    Product("O-GRILL-02", "Charcoal grill", "Outdoor", 259_900),
    Product("H-PAINT-01", "Interior paint, white 10 l", "Paint", 149_900),
    Product("H-BRUSH-02", "Brush set", "Paint", 21_900),
    Product("L-LAMP-01", "LED ceiling lamp", "Lighting", 99_900),
    Product("L-BULB-02", "Smart bulb E27", "Lighting", 34_900),
)
PAGES = ("Home", "Catalog", "Offers", "Delivery", "Stores")

FIRST_NAMES = (
    "Olena", "Oksana", "Iryna", "Nataliia", "Mariia", "Yuliia", "Sofiia", "Kateryna", "Anna",
    "Tetiana", "Andrii", "Oleksandr", "Dmytro", "Serhii", "Mykola", "Taras", "Bohdan", "Ivan",
)  # fmt: skip
LAST_NAMES = (
    "Kovalenko", "Shevchenko", "Bondarenko", "Tkachenko", "Kravchenko", "Oliinyk", "Melnyk",
    "Boiko", "Kovalchuk", "Savchenko", "Rudenko", "Lysenko", "Marchenko", "Moroz", "Petrenko",
)  # fmt: skip
DOMAINS = ("gmail.com", "ukr.net", "i.ua", "meta.ua", "outlook.com")
CITIES = ("Kyiv", "Lviv", "Odesa", "Kharkiv", "Dnipro")
OPERATOR_CODES = ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99")
CAMPAIGNS = ("Spring garden sale", "Tools week", "New in plumbing", "Summer outdoor", "Club news")
CALL_TOPICS = ("delivery status", "return", "stock in store", "installation", "warranty")
QUESTIONS = (
    "Is it in stock in my store?",
    "When will my order arrive?",
    "Do you deliver to Bucha?",
    "Can I return it without the box?",
    "Is there a discount for two?",
)

# S1's customer and product, fixed so tests and the printed curl examples can find them.
ANN_EMAIL = "ann@example.com"
ANN_USER_ID = "u1"
ANN_WEB_ID = "a1"
ANN_APP_ID = "d9"
FAUCET = CATALOG[0]


@dataclass(frozen=True)
class DemoEvent:
    """One message as a source would send it, and the moment it happened (for ordering)."""

    source: DemoSource
    at: datetime
    message: dict[str, Any]


# --- a customer --------------------------------------------------------------------------------


@dataclass
class Person:
    """Who a generated customer is on each channel; None means they never use that channel."""

    index: int
    first: str
    last: str
    city: str
    web_id: str
    app_id: str | None
    device_id: str | None
    user_id: str | None
    email: str | None  # as the customer typed it: mixed case on purpose
    phone_digits: str | None  # the 9 national digits after +380
    telegram_id: str | None
    whatsapp: bool
    loyalty_card: str | None
    calls: bool
    newsletter: bool
    consents: dict[str, dict[str, bool]] = field(default_factory=dict)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def _person(rng: random.Random, index: int) -> Person:
    first, last, city = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(CITIES)
    identified = _chance(rng, 0.8)
    has_app = _chance(rng, 0.45)
    # The index keeps e-mails and phones unique: two customers sharing one would merge.
    email = _mixed_case(rng, f"{first}.{last}{index}@{rng.choice(DOMAINS)}")
    # Multiplying by a number coprime to 10**7 scatters the indexes without ever repeating one.
    phone = f"{rng.choice(OPERATOR_CODES)}{index * 7_654_321 % 10**7:07d}"
    has_phone = identified and _chance(rng, 0.65)
    person = Person(
        index=index,
        first=first,
        last=last,
        city=city,
        web_id=_uuid(rng),
        app_id=_uuid(rng) if has_app else None,
        device_id=_uuid(rng).upper() if has_app else None,
        user_id=f"cust-{index:05d}" if identified else None,
        email=email if identified else None,
        phone_digits=phone if has_phone else None,
        telegram_id=f"{5_000_000_000 + index * 7919}" if has_phone and _chance(rng, 0.35) else None,
        whatsapp=has_phone and _chance(rng, 0.25),
        loyalty_card=f"2900{index:08d}" if identified and _chance(rng, 0.35) else None,
        calls=has_phone and _chance(rng, 0.2),
        newsletter=identified and _chance(rng, 0.7),
    )
    if identified:
        # Only subscribers get newsletters; the rest said no when they signed up.
        person.consents["email"] = {"marketing": person.newsletter}
    if person.telegram_id:
        person.consents["telegram"] = {"marketing": _chance(rng, 0.8)}
    return person


def _mixed_case(rng: random.Random, email: str) -> str:
    """How people really type e-mails; the platform lower-cases them into one identifier."""
    style = rng.randrange(4)
    if style == 0:
        return email.upper()
    if style == 1:
        return email.lower()
    local, _, domain = email.partition("@")
    return f"{local}@{domain.capitalize()}" if style == 2 else f"{local}@{domain}"


def phone_formats(digits: str) -> tuple[str, ...]:
    """One Ukrainian mobile number as people and systems write it; all are one E.164 number."""
    op, rest = digits[:2], digits[2:]
    return (
        f"0{op} {rest[:3]} {rest[3:5]} {rest[5:]}",
        f"+380{digits}",
        f"380{digits}",
        f"+38 (0{op}) {rest[:3]}-{rest[3:5]}-{rest[5:]}",
        f"0{op}{rest}",
        f"+380 {op} {rest[:3]} {rest[3:]}",
    )


# --- building a history ------------------------------------------------------------------------


class Journey:
    """Collects one customer's messages with stable message ids and ISO timestamps."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.events: list[DemoEvent] = []

    def add(self, source: DemoSource, at: datetime, message: dict[str, Any]) -> None:
        # Millisecond precision, as on the wire, so ``at`` is exactly the stored event time.
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        # A stable messageId makes a re-run of an interrupted load a no-op (the log dedups on it).
        message = {
            **message,
            "messageId": f"{self.prefix}-{len(self.events) + 1}",
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        self.events.append(DemoEvent(source, at, message))


def _ids(person: Person, anonymous_id: str, identified: bool) -> dict[str, Any]:
    ids: dict[str, Any] = {"anonymousId": anonymous_id}
    if identified and person.user_id:
        ids["userId"] = person.user_id
    return ids


def _product_props(product: Product, quantity: int = 1) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "price": product.price,
        "currency": CURRENCY,
        "quantity": quantity,
    }


def _order_props(order_id: str, lines: list[tuple[Product, int]]) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "revenue": sum(p.price * q for p, q in lines),
        "currency": CURRENCY,
        "products": [_product_props(p, q) for p, q in lines],
    }


def _traits(person: Person, rng: random.Random) -> dict[str, Any]:
    traits: dict[str, Any] = {
        "firstName": person.first,
        "lastName": person.last,
        "email": person.email,
        "city": person.city,
    }
    if person.phone_digits:
        traits["phone"] = rng.choice(phone_formats(person.phone_digits))
    if person.consents:
        traits["consents"] = person.consents
    return traits


class Timeline:
    """Moments inside one customer's active period, drawn from the shared rng."""

    def __init__(self, rng: random.Random, anchor: datetime) -> None:
        self.rng, self.anchor = rng, anchor
        self.start = anchor - timedelta(seconds=rng.uniform(DAY, HISTORY_DAYS * DAY))

    def moments(self, count: int, after: datetime | None = None) -> list[datetime]:
        start = max(self.start, after) if after else self.start
        # An hour of slack keeps a session's later clicks (under 40 minutes) before the anchor.
        span = max((self.anchor - start).total_seconds() - SESSION_SLACK, 1.0)
        return sorted(start + timedelta(seconds=self.rng.uniform(0, span)) for _ in range(count))

    def step(self, at: datetime, low: float = 5, high: float = 180) -> datetime:
        """A few seconds to minutes later: the next click of the same session."""
        return at + timedelta(seconds=self.rng.uniform(low, high))


def _track(
    j: Journey,
    source: DemoSource,
    at: datetime,
    event: str,
    who: dict[str, Any],
    properties: dict[str, Any],
) -> None:
    """A track call; ``who`` holds the ids (and context) the source knows the customer by."""
    j.add(source, at, {"type": "track", "event": event, **who, "properties": properties})


def _view(j: Journey, source: DemoSource, name: str, at: datetime, ids: dict[str, Any]) -> None:
    """A page view on the web, a screen view in the app."""
    if source is APP:
        j.add(APP, at, {"type": "screen", "name": name, **ids})
    else:
        path = "/" if name == "Home" else f"/{name.lower()}"
        j.add(source, at, {"type": "page", "name": name, "properties": {"path": path}, **ids})


def _shopping_session(
    j: Journey,
    rng: random.Random,
    t: Timeline,
    source: DemoSource,
    at: datetime,
    ids: dict[str, Any],
    order_prefix: str,
) -> datetime:
    """Browse, maybe add to cart, maybe buy; returns when the session ended."""
    _view(j, source, rng.choice(PAGES), at, ids)
    cart: list[tuple[Product, int]] = []
    for _ in range(rng.randint(0, 3)):
        product = rng.choice(CATALOG)
        at = t.step(at)
        _track(j, source, at, "Product Viewed", ids, _product_props(product))
        if _chance(rng, 0.35):
            quantity = rng.choice((1, 1, 1, 2, 3))
            at = t.step(at)
            _track(j, source, at, "Product Added", ids, _product_props(product, quantity))
            cart.append((product, quantity))
    if cart and _chance(rng, 0.5):
        at = t.step(at, 60, 600)
        order = _order_props(f"{order_prefix}-{len(j.events)}", cart)
        _track(j, source, at, "Order Completed", ids, order)
    return at


def _web(j: Journey, rng: random.Random, t: Timeline, p: Person) -> datetime | None:
    """Web sessions; one of them (for most people) is where they sign in. Returns that moment."""
    sessions = t.moments(rng.randint(1, 5))
    sessions[0] = t.start  # the first web visit is when we first meet the customer
    sign_in = rng.randrange(len(sessions)) if p.user_id else None
    signed_in_at: datetime | None = None
    for n, at in enumerate(sessions):
        identified = sign_in is not None and n >= sign_in
        if n == sign_in:
            sign_up = {"type": "identify", **_ids(p, p.web_id, True), "traits": _traits(p, rng)}
            j.add(WEB, at, sign_up)
            signed_in_at = at
            at = t.step(at)
        _shopping_session(j, rng, t, WEB, at, _ids(p, p.web_id, identified), f"W{p.index}")
    return signed_in_at


def _app(
    j: Journey, rng: random.Random, t: Timeline, p: Person, signed_in: datetime | None
) -> None:
    """App sessions; a customer with an account logs in at the first one after signing up."""
    if p.app_id is None:
        return
    context = {"device": {"id": p.device_id, "type": rng.choice(("ios", "android"))}}
    logged_in = False
    for at in t.moments(rng.randint(1, 4), after=signed_in):
        if p.user_id and signed_in is not None and not logged_in:
            j.add(APP, at, {"type": "identify", **_ids(p, p.app_id, True), "context": context})
            logged_in = True
            at = t.step(at)
        ids = {**_ids(p, p.app_id, logged_in), "context": context}
        _shopping_session(j, rng, t, APP, at, ids, f"A{p.index}")


def _email(j: Journey, rng: random.Random, t: Timeline, p: Person, after: datetime) -> None:
    """Newsletter opens and clicks; the ESP knows the account and the address (lower-cased)."""
    if not p.newsletter or p.email is None:
        return
    # The ESP knows the account and the address, never a browser's anonymous id.
    who = {"userId": p.user_id, "context": {"traits": {"email": p.email.lower()}}}
    for at in t.moments(rng.randint(1, 6), after=after):
        campaign = rng.choice(CAMPAIGNS)
        props = {"campaign": campaign, "subject": f"{campaign}: up to -30%"}
        _track(j, EMAIL, at, "Email Opened", who, props)
        if _chance(rng, 0.3):
            product = rng.choice(CATALOG)
            click = {**props, "url": f"https://shop.example/p/{product.sku}"}
            _track(j, EMAIL, t.step(at), "Email Clicked", who, click)


def _telegram(j: Journey, rng: random.Random, t: Timeline, p: Person) -> None:
    """Chats with the bot; sharing the phone number (Telegram's contact button) links the chat."""
    if p.telegram_id is None or p.phone_digits is None:
        return
    ids = {"anonymousId": f"tg-{p.telegram_id}"}
    external = [{"type": "telegram_id", "id": p.telegram_id, "encoding": "none"}]
    who = {**ids, "context": {"externalIds": external}}
    moments = t.moments(rng.randint(1, 4))
    if _chance(rng, 0.85):
        traits: dict[str, Any] = {"phone": f"+380{p.phone_digits}", "telegramId": p.telegram_id}
        if "telegram" in p.consents:
            traits["consents"] = {"telegram": p.consents["telegram"]}
        j.add(TELEGRAM, moments[0], {"type": "identify", **ids, "traits": traits})
    for at in moments:
        props = {"text": rng.choice(QUESTIONS), "chat_id": p.telegram_id}
        _track(j, TELEGRAM, t.step(at, 1, 5), "Message Received", who, props)


def _whatsapp(j: Journey, rng: random.Random, t: Timeline, p: Person) -> None:
    """WhatsApp ids are phone numbers, so every message carries the phone and links at once."""
    if not p.whatsapp or p.phone_digits is None:
        return
    wa_id = f"380{p.phone_digits}"
    context = {
        "traits": {"phone": f"+{wa_id}"},
        "externalIds": [{"type": "whatsapp_id", "id": wa_id, "encoding": "none"}],
    }
    who = {"anonymousId": f"wa-{wa_id}", "context": context}
    for at in t.moments(rng.randint(1, 3)):
        _track(j, WHATSAPP, at, "Message Received", who, {"text": rng.choice(QUESTIONS)})


def _stores(j: Journey, rng: random.Random, t: Timeline, p: Person) -> None:
    """In-store purchases with a loyalty card, registered at the till with a phone or e-mail."""
    if p.loyalty_card is None:
        return
    home = next((s for s in STORES if p.city in s.name), rng.choice(STORES))
    external = [{"type": "loyalty_card", "id": p.loyalty_card, "encoding": "none"}]
    who = {"anonymousId": f"card-{p.loyalty_card}", "context": {"externalIds": external}}
    moments = t.moments(rng.randint(1, 3))
    contact = (
        {"phone": rng.choice(phone_formats(p.phone_digits))}
        if p.phone_digits
        else {"email": p.email}
    )
    traits = {"loyaltyCard": p.loyalty_card, **contact}
    j.add(home, moments[0], {"type": "identify", **who, "traits": traits})
    for n, at in enumerate(moments):
        store = home if _chance(rng, 0.8) else rng.choice(STORES)
        lines = [(rng.choice(CATALOG), rng.choice((1, 1, 2))) for _ in range(rng.randint(1, 3))]
        order = _order_props(f"POS{p.index}-{n}", lines)
        order |= {"store": store.name, "payment": rng.choice(("card", "cash"))}
        _track(j, store, t.step(at, 60, 900), "Order Completed", who, order)


def _calls(j: Journey, rng: random.Random, t: Timeline, p: Person, after: datetime) -> None:
    """Calls to the call centre: the agent finds the account by the caller's number."""
    if not p.calls or p.phone_digits is None or p.user_id is None:
        return
    caller = rng.choice(phone_formats(p.phone_digits))
    who = {"userId": p.user_id, "context": {"traits": {"phone": caller}}}
    for at in t.moments(rng.randint(1, 2), after=after):
        props = {"topic": rng.choice(CALL_TOPICS), "duration_s": rng.randint(40, 900)}
        _track(j, CALL_CENTRE, at, "Call Completed", who, props)


def customer(rng: random.Random, index: int, anchor: datetime, prefix: str) -> list[DemoEvent]:
    """One generated customer's whole history across channels."""
    person = _person(rng, index)
    t = Timeline(rng, anchor)
    j = Journey(f"{prefix}-{index}")
    signed_in = _web(j, rng, t, person)
    _app(j, rng, t, person, signed_in)
    if signed_in is not None:
        _email(j, rng, t, person, signed_in)
        _calls(j, rng, t, person, signed_in)
    _telegram(j, rng, t, person)
    _whatsapp(j, rng, t, person)
    _stores(j, rng, t, person)
    return j.events


def ann(anchor: datetime) -> list[DemoEvent]:
    """Scenario S1 as far as the platform reaches today (no carts yet): web → sign in → app."""
    j = Journey("demo-ann")
    web, app = {"anonymousId": ANN_WEB_ID}, {"anonymousId": ANN_APP_ID}
    at = anchor - timedelta(hours=3)
    path = {"path": f"/p/{FAUCET.sku}"}
    j.add(WEB, at, {"type": "page", "name": "Product", "properties": path, **web})
    _track(j, WEB, at + timedelta(seconds=20), "Product Viewed", web, _product_props(FAUCET))
    added = _product_props(FAUCET, quantity=2)
    _track(j, WEB, at + timedelta(minutes=2), "Product Added", web, added)
    traits = {
        "email": ANN_EMAIL,
        "firstName": "Ann",
        "city": "Kyiv",
        "consents": {"email": {"marketing": True}},
    }
    j.add(
        WEB,
        at + timedelta(minutes=4),
        {"type": "identify", "userId": ANN_USER_ID, **web, "traits": traits},
    )
    at = anchor - timedelta(hours=1)
    j.add(APP, at, {"type": "identify", "userId": ANN_USER_ID, **app})
    who = {"userId": ANN_USER_ID, **app}
    # No cart id yet: carts are the commerce module's, which does not exist yet.
    _track(j, APP, at + timedelta(seconds=15), "Cart Viewed", who, {})
    return j.events


def generate(customers: int, seed: int, anchor: datetime) -> list[DemoEvent]:
    """``customers`` people (Ann and ``customers - 1`` generated ones), all events in time order.

    Time order is the order a live stream would deliver them in, and the worker resolves in
    insertion order, so merges happen the way they would in production.
    """
    rng = random.Random(seed)
    events = ann(anchor)
    for index in range(1, customers):
        events.extend(customer(rng, index, anchor, f"demo-{seed}"))
    # sorted() is stable: equal moments keep generation order, so the result is reproducible.
    return sorted(events, key=lambda e: e.at)
