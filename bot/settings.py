"""Frozen settings read from the environment and a `.env` file, checked early: the core's (documents,
index, model, fetching) apart from the chat's (Discord), so the command line never needs a token field
and the bot's options never leak into the core."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import SettingsError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """What every command needs: where the articles and the index are, and how to build and read them."""

    model_config = SettingsConfigDict(env_prefix="CITEBOT_", env_file=".env", extra="ignore", frozen=True)

    documents: Path = Path("documents")
    index: Path = Path("index")
    model: str = DEFAULT_MODEL
    min_score: float | None = None
    reader: bool = True
    """False: the linear first cut judges alone (faster, no answer words, no near-topic abstention)."""
    feed_max_new: int = Field(default=50, ge=1)
    allow_private_urls: bool = False

    @field_validator("min_score")
    @classmethod
    def _min_score_is_a_probability(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"must be a number from 0 to 1 (the confidence a reply needs), not {value}")
        return value

    @field_validator("model")
    @classmethod
    def _model_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a sentence-transformers model or a path to one")
        return value.strip()


class ChatSettings(BaseSettings):
    """What only the Discord bot needs."""

    model_config = SettingsConfigDict(env_prefix="CITEBOT_", env_file=".env", extra="ignore", frozen=True)

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "CITEBOT_DISCORD_TOKEN")
    )
    ask_channels: str = ""
    reply_in_thread: bool = False
    cooldown: float = Field(default=3.0, ge=0)
    feed_interval: float = Field(default=30.0, gt=0)
    discord_api: str = "https://discord.com/api/v10"
    discord_gateway: str = "wss://gateway.discord.gg"

    @property
    def ask_channel_list(self) -> tuple[str, ...]:
        return tuple(part.strip().lstrip("#") for part in self.ask_channels.split(",") if part.strip())


Loaded = TypeVar("Loaded", Settings, ChatSettings)


def load_settings(kind: type[Loaded] = Settings) -> Loaded:  # type: ignore[assignment]
    """Read the settings now; a bad value is a SettingsError naming the variable."""
    try:
        return kind()
    except ValidationError as error:
        problems = "; ".join(
            f"{_variable(kind, str(issue['loc'][0]))}: {issue['msg']}" for issue in error.errors() if issue["loc"]
        )
        raise SettingsError(f"Invalid setting: {problems}. Fix it in the environment or .env.") from None


def _variable(kind: type[BaseSettings], field: str) -> str:
    return "DISCORD_TOKEN" if field == "discord_token" else f"CITEBOT_{field.upper()}"
