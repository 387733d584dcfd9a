"""Settings and paths, declared once: the environment, then `.env`, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from builder.core.errors import BuilderError

DEFAULT_PORT = 8080
# Defaults of settings that steps also take as plain arguments, declared once here.
DEFAULT_SYNC_BATCH_SIZE = 20000
# Found on the sample corpus: they pair the death tolls and the ministers' last call.
DEFAULT_STANCE_TOP_K = 3
DEFAULT_STANCE_MIN_SIMILARITY = 0.12
# Labels of every class before `suggest` orders a project by its model.
DEFAULT_SUGGEST_MIN_LABELS = 10
# How annotations become labels (labels/aggregate.py). Dawid-Skene is the default: on simulated
# annotators over CheckThat! labels it beat the majority by 6 points (README, "Measured").
AGGREGATIONS = ("majority", "dawid-skene")
DEFAULT_AGGREGATION = "dawid-skene"
# Below this posterior a Dawid-Skene label is unresolved and goes to adjudication, like a tie.
DEFAULT_MIN_POSTERIOR = 0.8
# The card's license: the builder cannot know the rights to the articles, so it claims none.
DEFAULT_DATASET_LICENSE = "unknown"
# Label Studio refuses a project title over 50 characters, and the adjudication project's title
# is the claims (or stance) title plus " · adjudication" (tasks/adjudicate.py): both must fit.
MAX_PROJECT_TITLE = 50 - len(" · adjudication")
# How the dataset is split: by split group (story) in a seeded order, or the latest groups in test.
SPLIT_MODES = ("story", "time")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file of KEY=VALUE lines (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    # utf-8-sig: an editor's byte order mark must not become part of the first key.
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        values[key] = _dotenv_value(value.strip())
    return values


def _dotenv_value(value: str) -> str:
    """A quoted value is what is inside its quotes; an unquoted one ends at a " #" comment."""
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        if end > 0:
            return value[1:end]
        return value
    for mark in (" #", "\t#"):
        if mark in value:
            value = value[: value.index(mark)]
    return value.strip()


def _whole_number(raw: str, name: str) -> int:
    """A setting that must be a whole number ≥ 1 ("²".isdigit() is true, but int() refuses it)."""
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if value < 1:
        raise BuilderError(f"{name}={raw!r} must be a whole number ≥ 1")
    return value


class Secret:
    """A value that never shows itself in a repr, a log line or an f-string."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where things are and which server to use."""

    root: Path
    values: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, root: Path | None = None) -> Settings:
        root = Path(root or os.environ.get("BUILDER_ROOT") or Path.cwd()).resolve()
        merged = read_dotenv(root / ".env")
        # The environment wins over .env, so a team's server can be chosen per shell.
        merged.update({k: v for k, v in os.environ.items() if v != ""})
        return cls(root=root, values=merged)

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    # Paths ---------------------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def state_dir(self) -> Path:
        """Git-ignored working state: sync records, story ids, pulls' parsed records."""
        return self.root / ".builder"

    @property
    def server_dir(self) -> Path:
        """Git-ignored home of the local Label Studio: its data dir, log and pid file."""
        return self.root / ".labelstudio"

    @property
    def dataset_dir(self) -> Path:
        return self.exports_dir / self.dataset_name

    # Server --------------------------------------------------------------------------------
    @property
    def uses_local_server(self) -> bool:
        return not self.get("LABEL_STUDIO_URL")

    @property
    def port(self) -> int:
        raw = self.get("LABEL_STUDIO_PORT", str(DEFAULT_PORT))
        try:
            port = int(raw)
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise BuilderError(f"LABEL_STUDIO_PORT={raw!r} is not a port number (1-65535)")
        return port

    @property
    def server_url(self) -> str:
        if self.uses_local_server:
            return f"http://127.0.0.1:{self.port}"
        return self.get("LABEL_STUDIO_URL").rstrip("/")

    @property
    def api_key(self) -> Secret:
        if self.uses_local_server:
            key = self.get("LOCAL_LABEL_STUDIO_TOKEN")
            if not key:
                raise BuilderError(
                    "no API key for the local Label Studio: LOCAL_LABEL_STUDIO_TOKEN is not set",
                    fix="start it once with `make labelstudio` (it writes LOCAL_LABEL_STUDIO_TOKEN "
                    "to .env), or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for a team server",
                )
            return Secret(key)
        key = self.get("LABEL_STUDIO_API_KEY")
        if not key:
            raise BuilderError(
                f"LABEL_STUDIO_URL is set ({self.server_url}) but LABEL_STUDIO_API_KEY is not",
                fix="set LABEL_STUDIO_API_KEY in the environment or in .env",
            )
        return Secret(key)

    # Projects and dataset ------------------------------------------------------------------
    @property
    def claims_project_title(self) -> str:
        return self._project_title("CLAIMS_PROJECT_TITLE", "Fact-check claims")

    @property
    def stance_project_title(self) -> str:
        return self._project_title("STANCE_PROJECT_TITLE", "Fact-check stance")

    def _project_title(self, key: str, default: str) -> str:
        title = self.get(key, default)
        if len(title) > MAX_PROJECT_TITLE:
            raise BuilderError(
                f"{key}={title!r} is {len(title)} characters long; at most {MAX_PROJECT_TITLE} "
                "fit (Label Studio allows 50, and the adjudication project adds ' · adjudication')",
                fix=f"set a shorter {key}",
            )
        return title

    @property
    def dataset_name(self) -> str:
        name = self.get("DATASET_NAME", "factcheck")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise BuilderError(f"DATASET_NAME={name!r} must be a plain name (letters, digits, - _)")
        return name

    @property
    def test_size(self) -> float:
        raw = self.get("TEST_SIZE", "0.2")
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 < value < 1.0:
            raise BuilderError(f"TEST_SIZE={raw!r} must be a number between 0 and 1")
        return value

    @property
    def split_seed(self) -> int:
        raw = self.get("SPLIT_SEED", "13")
        try:
            return int(raw)
        except ValueError as exc:
            raise BuilderError(f"SPLIT_SEED={raw!r} must be a whole number") from exc

    @property
    def split_by(self) -> str:
        raw = self.get("SPLIT_BY", "story")
        if raw.strip().lower() not in SPLIT_MODES:
            raise BuilderError(
                f"SPLIT_BY={raw!r} is not a split mode: it must be one of {', '.join(SPLIT_MODES)}",
                fix="set SPLIT_BY=story (groups in a seeded order, the default) or SPLIT_BY=time "
                "(the latest groups form the test split)",
            )
        return raw.strip().lower()

    @property
    def annotations_per_task(self) -> int:
        return _whole_number(self.get("ANNOTATIONS_PER_TASK", "1"), "ANNOTATIONS_PER_TASK")

    @property
    def sync_batch_size(self) -> int:
        """Tasks per import request: large batches are cheaper for the server, small ones lose
        less work to an interrupted sync."""
        return _whole_number(
            self.get("SYNC_BATCH_SIZE", str(DEFAULT_SYNC_BATCH_SIZE)), "SYNC_BATCH_SIZE"
        )

    @property
    def lock_wait(self) -> float:
        """Seconds a writing command waits for another one on this root before giving up."""
        raw = self.get("BUILDER_LOCK_WAIT", "0")
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 86400.0:
            raise BuilderError(f"BUILDER_LOCK_WAIT={raw!r} must be a number of seconds (0-86400)")
        return value

    @property
    def stance_top_k(self) -> int:
        return _whole_number(self.get("STANCE_TOP_K", str(DEFAULT_STANCE_TOP_K)), "STANCE_TOP_K")

    @property
    def stance_min_similarity(self) -> float:
        raw = self.get("STANCE_MIN_SIMILARITY", str(DEFAULT_STANCE_MIN_SIMILARITY))
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise BuilderError(f"STANCE_MIN_SIMILARITY={raw!r} must be a number between 0 and 1")
        return value

    @property
    def suggest_min_labels(self) -> int:
        raw = self.get("SUGGEST_MIN_LABELS", str(DEFAULT_SUGGEST_MIN_LABELS))
        return _whole_number(raw, "SUGGEST_MIN_LABELS")

    @property
    def show_suggestions(self) -> bool:
        """Whether annotators see the model's suggestion (pre-annotation); off: it anchors them."""
        raw = self.get("SHOW_SUGGESTIONS", "0").strip().lower()
        if raw not in ("0", "1", "true", "false", "yes", "no"):
            raise BuilderError(f"SHOW_SUGGESTIONS={raw!r} must be 1 or 0")
        return raw in ("1", "true", "yes")

    # Labels -------------------------------------------------------------------------------
    @property
    def aggregation(self) -> str:
        """How several annotations become one label: `majority` or `dawid-skene`."""
        value = self.get("AGGREGATION", DEFAULT_AGGREGATION).strip().lower()
        if value not in AGGREGATIONS:
            raise BuilderError(
                f"AGGREGATION={self.get('AGGREGATION')!r} is not a known aggregation",
                fix=f"set AGGREGATION to one of: {', '.join(AGGREGATIONS)}",
            )
        return value

    @property
    def min_posterior(self) -> float:
        """Dawid-Skene labels less probable than this go to adjudication, like ties."""
        raw = self.get("MIN_POSTERIOR", str(DEFAULT_MIN_POSTERIOR))
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:
            raise BuilderError(f"MIN_POSTERIOR={raw!r} must be a number between 0 and 1")
        return value

    @property
    def dataset_license(self) -> str:
        """The card's `license`: a Hugging Face Hub license id (cc-by-4.0, mit, other, …)."""
        raw = self.get("DATASET_LICENSE", DEFAULT_DATASET_LICENSE)
        value = raw.strip().lower()
        if not value or not all(c.isascii() and (c.isalnum() or c in ".-+_") for c in value):
            raise BuilderError(
                f"DATASET_LICENSE={raw!r} is not a license id",
                fix="use a Hugging Face Hub license id such as cc-by-4.0, cc-by-nc-4.0, mit, other",
            )
        return value
