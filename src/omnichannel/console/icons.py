"""Channel icons: small inline SVGs (24 by 24, stroked in the text colour), one per source kind.

Inline, so the console needs no icon font or sprite request, and every icon scales and takes its
colour from CSS (``.ch-<channel>``).
"""

from __future__ import annotations

from markupsafe import Markup

from omnichannel.events.models import SOURCE_KINDS

_SHAPES = {
    "web": '<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3a14 14 0 0 1 0 18'
    'M12 3a14 14 0 0 0 0 18"/>',
    "app": '<rect x="7" y="2" width="10" height="20" rx="2"/><path d="M11 18h2"/>',
    "pos": '<path d="M3 9l2-5h14l2 5M4 9v11h16V9M3 9h18M9 20v-6h6v6"/>',
    "call_centre": '<path d="M4 14v-2a8 8 0 0 1 16 0v2"/><rect x="3" y="13" width="4" height="6" '
    'rx="1"/><rect x="17" y="13" width="4" height="6" rx="1"/><path d="M19 19a4 4 0 0 1-4 3h-2"/>',
    "email": '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M3 7l9 6 9-6"/>',
    "telegram": '<path d="M21 4L3 11l6 2 2 6 3-4 5 4 2-15zM9 13l8-6"/>',
    "whatsapp": '<path d="M4 20l1.5-4A8 8 0 1 1 8 18.5z"/><path d="M9 9c0 3 3 6 6 6"/>',
    "instagram": '<rect x="3" y="3" width="18" height="18" rx="5"/><circle cx="12" cy="12" r="4"/>'
    '<circle cx="17.5" cy="6.5" r="0.5"/>',
    "messenger": '<path d="M12 3a9 9 0 0 0-6 15.7V22l3.3-1.8A9 9 0 1 0 12 3z"/>'
    '<path d="M7 14l3-3 3 2 4-4"/>',
    "viber": '<path d="M5 4h14a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-7l-5 4v-4H5a2 2 0 0 1-2-2V6a2 2 '
    '0 0 1 2-2z"/><path d="M9 8c0 2 2 4 4 4"/>',
    "sms": '<path d="M4 4h16v12H8l-4 4z"/><path d="M8 10h.01M12 10h.01M16 10h.01"/>',
    "push": '<path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 21h4"/>',
    "marketplace": '<path d="M3 4h2l2.5 11h11L21 7H6.5"/><circle cx="9" cy="19" r="1.5"/>'
    '<circle cx="17" cy="19" r="1.5"/>',
    "server": '<rect x="3" y="4" width="18" height="7" rx="1"/><rect x="3" y="13" width="18" '
    'height="7" rx="1"/><path d="M7 7.5h.01M7 16.5h.01"/>',
}
_UNKNOWN = '<circle cx="12" cy="12" r="9"/><path d="M12 8v5M12 16h.01"/>'
# Names people use: "POS", "SMS", "WhatsApp", not what str.capitalize() makes of the kinds.
LABELS = {kind: kind.replace("_", " ").capitalize() for kind in SOURCE_KINDS} | {
    "pos": "POS",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "call_centre": "Call centre",
}


def channel_icon(channel: str | None) -> Markup:
    """The icon of a channel as inline SVG, labelled for screen readers."""
    kind = channel if channel in _SHAPES else "unknown"
    label = LABELS.get(channel or "", channel or "unknown")
    shape = _SHAPES.get(kind, _UNKNOWN)
    return Markup(
        f'<svg class="ch ch-{kind}" viewBox="0 0 24 24" width="18" height="18" fill="none" '
        f'stroke="currentColor" stroke-width="1.8" stroke-linecap="round" '
        f'stroke-linejoin="round" role="img" aria-label="{label}"><title>{label}</title>'
        f"{shape}</svg>"
    )
