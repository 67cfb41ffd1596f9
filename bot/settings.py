"""One frozen Settings, read once from the environment and a `.env` file, checked early."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import SettingsError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITEBOT_", env_file=".env", extra="ignore", frozen=True)

    documents: Path = Path("documents")
    index: Path = Path("index")
    model: str = DEFAULT_MODEL
    min_score: float | None = None
    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "CITEBOT_DISCORD_TOKEN")
    )
    ask_channels: str = ""
    reply_in_thread: bool = False
    cooldown: float = Field(default=3.0, ge=0)
    discord_api: str = "https://discord.com/api/v10"
    discord_gateway: str = "wss://gateway.discord.gg"

    @field_validator("model")
    @classmethod
    def _model_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a sentence-transformers model or a path to one")
        return value.strip()

    @property
    def ask_channel_list(self) -> tuple[str, ...]:
        return tuple(part.strip().lstrip("#") for part in self.ask_channels.split(",") if part.strip())


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Read the settings once; a bad value is a SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"CITEBOT_{'_'.join(str(part) for part in issue['loc']).upper()}: {issue['msg']}"
            for issue in error.errors()
        )
        raise SettingsError(f"Invalid setting: {problems}. Fix it in the environment or .env.") from None
