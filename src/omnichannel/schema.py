"""Every module's tables, imported in one place so the metadata is complete (Alembic, tests)."""

from omnichannel.auth import models as auth_models
from omnichannel.console import models as console_models
from omnichannel.events import health as events_health
from omnichannel.events import models as events_models
from omnichannel.identity import models as identity_models
from omnichannel.kit import jobs, outbox
from omnichannel.kit.orm import Base
from omnichannel.profiles import models as profiles_models
from omnichannel.profiles import search_models

metadata = Base.metadata
MODULES = (
    auth_models,
    console_models,
    events_health,
    events_models,
    identity_models,
    jobs,
    outbox,
    profiles_models,
    search_models,
)
