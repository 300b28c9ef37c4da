"""The subscribers' settings: what the SES feedback function reads beside the core ones."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.messaging.engagement import link_of
from lifecycle.platform.settings import Env


@dataclass(frozen=True)
class FeedbackSettings:
    """Where engagement is counted, and the links never counted as clicks: the preference
    centre (every unsubscribe link) and the rating page. Their anchors carry `ses:no-track`
    (lint checks it), so SES never reports them; a click on one anyway is not recorded."""

    engagement_table: str
    untracked_links: tuple[str, ...]  # host and path prefixes (`link_of`)

    @classmethod
    def from_env(cls, env: Env) -> FeedbackSettings:
        urls = (env.optional_https("PREFERENCES_URL"), env.optional_https("RATINGS_URL"))
        return cls(
            engagement_table=env.required("ENGAGEMENT_TABLE"),
            untracked_links=tuple(link_of(url) for url in urls if url),
        )
