"""Who reacts to what: the one explicit list of domain-event and outbox handlers."""

from __future__ import annotations

from omnichannel.events import handlers as events
from omnichannel.events.domain import EventsResolved
from omnichannel.identity.domain import ProfilesMerged, ProfileSplit
from omnichannel.kit.bus import Bus
from omnichannel.kit.outbox import GaveUpHandler, OutboxHandler
from omnichannel.profiles import handlers as profiles
from omnichannel.profiles import search as profile_search
from omnichannel.profiles import service as profiles_service


def build_bus() -> Bus:
    return Bus(
        {
            EventsResolved: [profiles.on_events_resolved, profile_search.on_events_resolved],
            ProfilesMerged: [profiles.on_merged, profile_search.on_merged],
            # The events first: both sides' traits and terms are rebuilt from them.
            ProfileSplit: [events.on_split, profiles.on_split, profile_search.on_split],
        }
    )


OUTBOX_HANDLERS: dict[str, OutboxHandler] = {
    profiles_service.ERASE_TOPIC: profiles_service.erase,
}
# Told when an effect is given up on, in the transaction that parks it.
OUTBOX_GAVE_UP: dict[str, GaveUpHandler] = {
    profiles_service.ERASE_TOPIC: profiles_service.erasure_gave_up,
}
