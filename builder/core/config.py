"""Settings, declared once with pydantic-settings: the environment, then `.env`, then defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from builder.core.atomic import write_text
from builder.core.errors import BuilderError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Label Studio refuses a project title over 50 characters, and the adjudication project's title
# is the claims (or stance) title plus " · adjudication" (core/projects.py): both must fit.
ADJUDICATION_SUFFIX = " · adjudication"
LABEL_STUDIO_MAX_TITLE = 50
MAX_PROJECT_TITLE = LABEL_STUDIO_MAX_TITLE - len(ADJUDICATION_SUFFIX)
# How the dataset is split: by split group (story) in a seeded order, or the latest groups in test.
SPLIT_MODES = ("story", "time")
# How annotations become labels (labels/aggregate.py). Dawid-Skene is the default: on simulated
# annotators over CheckThat! labels it beat the majority by 6 points (README, "Measured").
AGGREGATIONS = ("majority", "dawid-skene")
# The folders the builder itself writes under exports/: a dataset may never take their name,
# or building it would replace every saved pull (or the pulled records).
PULLS_DIR = "pulls"
RECORDS_DIR = "annotations"
RESERVED_EXPORT_NAMES = frozenset({PULLS_DIR, RECORDS_DIR})
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
# "scheme://user:password@host": everything between the first ":" after "//" and the last "@"
# before the path is the password.
_URL_PASSWORD = re.compile(r"(?<=://)([^/@:]*):[^/]*@")


def redact_url(url: str) -> str:
    """The URL fit to print: a password in it (https://user:password@host) becomes ***."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


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
        key = _dotenv_key(key)
        values[key] = _dotenv_value(value.strip())
    return values


def _dotenv_key(text: str) -> str:
    return text.strip().removeprefix("export ").strip()


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


def write_dotenv(path: Path, values: dict[str, str]) -> None:
    """Set `values` in a .env file, keeping every other line as it was; readable by us only."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    pending = dict(values)
    kept: list[str] = []
    for line in lines:
        key = _dotenv_key(line.partition("=")[0])
        if "=" in line and key in values:
            if key in pending:
                kept.append(f"{key}={pending.pop(key)}")
            continue
        kept.append(line)
    kept += [f"{key}={value}" for key, value in pending.items()]
    write_text(path, "\n".join(kept) + "\n")
    os.chmod(path, 0o600)


class Secret(SecretStr):
    """A value that never shows itself in a repr, a log line or an f-string."""

    def reveal(self) -> str:
        return self.get_secret_value()

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __bool__(self) -> bool:
        return bool(self.get_secret_value())


# Checks of the values ------------------------------------------------------------------------


def _whole(value: Any) -> Any:
    """Only plain ASCII digits: "²".isdigit() is true and pydantic would take "2.0" as 2."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value.strip()):
        raise PydanticCustomError("not_whole", "not a whole number")
    return value


def _plain_name(value: str) -> str:
    # fullmatch: "$" would let a final newline through.
    if not _PLAIN_NAME.fullmatch(value):
        raise PydanticCustomError(
            "setting",
            "must be a plain name: ASCII letters, digits, - and _, starting with a letter or "
            "digit, at most 100 characters",
        )
    # Case-blind: on a case-insensitive file system "Pulls" is the pulls folder.
    if value.lower() in RESERVED_EXPORT_NAMES:
        raise PydanticCustomError(
            "setting",
            "is the name of a folder the builder keeps under exports/ ({names}); a dataset there "
            "would replace it",
            {"names": ", ".join(sorted(RESERVED_EXPORT_NAMES))},
        )
    return value


def _title(value: str) -> str:
    if len(value) > MAX_PROJECT_TITLE:
        raise PydanticCustomError(
            "setting",
            "is {length} characters long; at most {most} fit (Label Studio allows 50, and the "
            "adjudication project adds ' · adjudication')",
            {"length": len(value), "most": MAX_PROJECT_TITLE},
        )
    return value


def _split_mode(value: Any) -> Any:
    mode = value.strip().lower() if isinstance(value, str) else value
    if mode not in SPLIT_MODES:
        raise PydanticCustomError(
            "setting",
            "is not a split mode: it must be one of {modes}",
            {"modes": ", ".join(SPLIT_MODES)},
        )
    return mode


def _aggregation(value: Any) -> Any:
    method = value.strip().lower() if isinstance(value, str) else value
    if method not in AGGREGATIONS:
        raise PydanticCustomError("setting", "is not a known aggregation")
    return method


def _license(value: Any) -> Any:
    """A Hugging Face Hub license id (cc-by-4.0, mit, other, …), never a path or prose."""
    text = value.strip().lower() if isinstance(value, str) else value
    if not text or not all(c.isascii() and (c.isalnum() or c in ".-+_") for c in text):
        raise PydanticCustomError("setting", "is not a license id")
    return text


WholeNumber = Annotated[int, BeforeValidator(_whole)]
Title = Annotated[str, AfterValidator(_title)]


def setting(default: Any, help: str, expect: str = "", fix: str = "", **checks: Any) -> Any:
    """One setting: its default, what it means (`help`), the values it takes (`expect`) and,
    where the general advice is not enough, how to fix a bad one (`fix`)."""
    extra = {"expect": expect, "fix": fix}
    return Field(default, description=help, json_schema_extra=extra, **checks)


class _DotEnv(PydanticBaseSettingsSource):
    """The project root's `.env`, read by `read_dotenv` (the one parser of that file)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.values = {key.upper(): value for key, value in read_dotenv(path).items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(env_name(field_name)), field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name in self.settings_cls.model_fields:
            if name == "root":
                continue  # .env is found through the root, so it cannot move it
            value, _, _ = self.get_field_value(self.settings_cls.model_fields[name], name)
            if value not in (None, ""):
                found[name] = value
        return found


def env_name(field_name: str) -> str:
    """The environment variable of a setting: its name in capitals."""
    return "BUILDER_ROOT" if field_name == "root" else field_name.upper()


class Settings(BaseSettings):
    """Every setting the builder reads, with its type, default, range and meaning."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        validate_default=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    root: Annotated[Path, AfterValidator(Path.resolve)] = Field(
        default_factory=Path.cwd,
        validation_alias="BUILDER_ROOT",
        description="the project folder: raw/, exports/, .env, .builder/",
        json_schema_extra={"expect": "a folder"},
    )
    # Server -------------------------------------------------------------------------------
    label_studio_url: str = setting(
        "", "a team's Label Studio (PostgreSQL or SQLite, the same code); unset: the local server"
    )
    label_studio_api_key: Secret = setting(
        "",
        "its API key (legacy token or personal access token); never printed, logged or exported",
    )
    label_studio_port: WholeNumber = setting(
        8080, "port of the local server", "a port number (1-65535)", ge=1, le=65535
    )
    label_studio_bin: Path = setting(
        REPO_ROOT / ".venv-labelstudio" / "bin" / "label-studio",
        "the local server's `label-studio` program (it has a venv of its own)",
        "a file path",
    )
    label_studio_database: str = setting(
        "",
        "the local server's database as `postgresql://USER:PASSWORD@HOST:PORT/NAME` (an existing, "
        "empty database on first start; the password is never printed); unset: SQLite in its "
        "data dir",
    )
    label_studio_workers: WholeNumber = setting(
        0,
        "gunicorn worker processes for the local server; `0`: Label Studio's own server",
        "a whole number ≥ 0",
        ge=0,
    )
    local_label_studio_email: str = setting(
        "", "login of the local server, written by `make labelstudio`"
    )
    local_label_studio_password: Secret = setting("", "its password, written by `make labelstudio`")
    local_label_studio_token: Secret = setting("", "its API token, written by `make labelstudio`")
    # Projects ------------------------------------------------------------------------------
    claims_project_title: Title = setting(
        "Fact-check claims",
        "the claims project's title",
        f"at most {MAX_PROJECT_TITLE} characters (Label Studio allows 50 and the adjudication "
        "project adds ' · adjudication')",
    )
    stance_project_title: Title = setting(
        "Fact-check stance", "the stance project's title", f"at most {MAX_PROJECT_TITLE} characters"
    )
    annotations_per_task: WholeNumber = setting(
        1,
        "overlap: how many annotators label each task (Label Studio's `maximum_annotations`)",
        "a whole number ≥ 1",
        ge=1,
    )
    sync_batch_size: WholeNumber = setting(
        20000,
        "tasks per import request (large batches are cheaper for the server, small ones lose less "
        "to an interrupted sync)",
        "a whole number ≥ 1",
        ge=1,
    )
    # Label Studio's guidance: about 100,000 tasks per project; past that a sync goes on in a
    # next project of the same kind (core/projects.py: "<title> · 2", …).
    max_tasks_per_project: WholeNumber = setting(
        100000,
        "at most this many tasks per Label Studio project: a sync that would pass it continues in "
        "a next project of the same kind (see *Sync, pull*)",
        "a whole number ≥ 1",
        ge=1,
    )
    # Label Studio's open-source export is one synchronous request, and exports of 18,000+ tasks
    # time out behind proxies; its UI warns from 5,000.
    pull_page_size: WholeNumber = setting(
        5000,
        "at most this many tasks per export request of a pull (pages of task ids; see *Sync, "
        "pull*)",
        "a whole number ≥ 1",
        ge=1,
    )
    # Found on the sample corpus: they pair the death tolls and the ministers' last call.
    stance_top_k: WholeNumber = setting(
        3, "candidates per stance target", "a whole number ≥ 1", ge=1
    )
    stance_min_similarity: float = setting(
        0.12,
        "the lowest TF-IDF cosine of a stance candidate",
        "a number between 0 and 1",
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
    )
    # Dataset -------------------------------------------------------------------------------
    dataset_name: Annotated[str, AfterValidator(_plain_name)] = setting(
        "factcheck",
        "the folder under `exports/`; a folder the builder did not make (it has no "
        "`.made-by-factcheck-builder` marker) is never replaced",
        "a plain name (ASCII letters, digits, - _), never `pulls` or `annotations` (the "
        "builder's own folders there)",
    )
    test_size: float = setting(
        0.2,
        "requested test share",
        "a number between 0 and 1",
        gt=0.0,
        lt=1.0,
        allow_inf_nan=False,
    )
    split_seed: WholeNumber = setting(13, "seed of the split order", "a whole number")
    split_by: Annotated[str, BeforeValidator(_split_mode)] = setting(
        "story",
        "`story`: split groups placed in a seeded order near `TEST_SIZE` and the label balance; "
        "`time`: the groups with the newest articles form the test split (undated groups stay in "
        "train)",
        "story or time",
        fix="set SPLIT_BY=story (groups in a seeded order, the default) or SPLIT_BY=time (the "
        "latest groups form the test split)",
    )
    # Suggestions ---------------------------------------------------------------------------
    suggest_min_labels: WholeNumber = setting(
        10,
        "labels every class needs before `suggest` orders a project by its model",
        "a whole number ≥ 1",
        ge=1,
    )
    show_suggestions: bool = setting(
        False,
        "`1` shows the model's suggestion to annotators as a pre-annotation (off by default: it "
        "anchors answers)",
        "1 or 0",
    )
    # Labels and the card -------------------------------------------------------------------
    aggregation: Annotated[str, BeforeValidator(_aggregation)] = setting(
        "dawid-skene",
        "how several annotations become one label: `dawid-skene` (competence-weighted; the "
        "majority decides until 100 items have two or more annotations) or `majority`; see "
        '"Quality control"',
        "majority or dawid-skene",
        fix=f"set AGGREGATION to one of: {', '.join(AGGREGATIONS)}",
    )
    # Below this posterior a Dawid-Skene label is unresolved and goes to adjudication, like a tie.
    min_posterior: float = setting(
        0.8,
        "a Dawid–Skene label less probable than this is unresolved and goes to `make adjudicate`, "
        "like a tie",
        "a number between 0 and 1",
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
    )
    # The builder cannot know the rights to the articles, so the card claims none by default.
    dataset_license: Annotated[str, BeforeValidator(_license)] = setting(
        "unknown",
        "the card's `license`, a Hugging Face Hub license id: the builder cannot know the rights "
        "to your articles, so it claims none until you say",
        "a license id (cc-by-4.0, cc-by-nc-4.0, mit, other, …)",
        fix="use a Hugging Face Hub license id such as cc-by-4.0, cc-by-nc-4.0, mit, other",
    )
    # Command line --------------------------------------------------------------------------
    builder_debug: bool = setting(False, "show the traceback of an error (as `--debug`)", "1 or 0")
    builder_request_log: str = setting(
        "",
        "a file where the client logs every request's time (set by `make bench`'s scale run); "
        "unset: no log",
        "a file path",
    )
    builder_lock_wait: float = setting(
        0.0,
        "seconds a writing command waits for another one on this root before giving up; `0`: "
        "it gives up at once",
        "a number of seconds (0-86400)",
        ge=0.0,
        le=86400.0,
        allow_inf_nan=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over .env, so a team's server can be chosen per shell; .env lives
        # in the root, which comes from the arguments, BUILDER_ROOT or the current folder.
        given = getattr(init_settings, "init_kwargs", {})
        root = (
            given.get("BUILDER_ROOT")
            or given.get("root")
            or os.environ.get("BUILDER_ROOT")
            or Path.cwd()
        )
        assert isinstance(env_settings, EnvSettingsSource)
        return init_settings, env_settings, _DotEnv(settings_cls, Path(root) / ".env")

    @classmethod
    def load(cls, root: Path | None = None, **values: Any) -> Settings:
        """Every setting read and checked now: one error names each bad value."""
        try:
            return cls(**({"root": root} if root else {}), **values)
        except ValidationError as exc:
            raise settings_error(exc) from None

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
        """Git-ignored working state: sync records, story ids, step reports."""
        return self.root / ".builder"

    @property
    def server_dir(self) -> Path:
        """Git-ignored home of the local Label Studio: its data dir, log and pid file."""
        return self.root / ".labelstudio"

    @property
    def pseudonym_key_path(self) -> Path:
        """Git-ignored secret of the annotator pseudonyms: beside the project, outside .builder/
        (which `make clean` removes), so pseudonyms stay the same across builds."""
        return self.root / ".pseudonym-key"

    @property
    def dataset_dir(self) -> Path:
        return self.exports_dir / self.dataset_name

    @property
    def dotenv(self) -> Path:
        return self.root / ".env"

    # Server --------------------------------------------------------------------------------
    @property
    def uses_local_server(self) -> bool:
        return not self.label_studio_url

    @property
    def lock_wait(self) -> float:
        """Seconds a writing command waits for another one on this root before giving up."""
        return self.builder_lock_wait

    @property
    def port(self) -> int:
        return self.label_studio_port

    @property
    def server_url(self) -> str:
        if self.uses_local_server:
            return f"http://127.0.0.1:{self.port}"
        return self.label_studio_url.rstrip("/")

    @property
    def server_url_shown(self) -> str:
        """The server's address as messages show it: never with a password in it."""
        return redact_url(self.server_url)

    @property
    def api_key(self) -> Secret:
        if self.uses_local_server:
            if not self.local_label_studio_token:
                raise BuilderError(
                    "no API key for the local Label Studio: LOCAL_LABEL_STUDIO_TOKEN is not set",
                    fix="start it once with `make labelstudio` (it writes LOCAL_LABEL_STUDIO_TOKEN "
                    "to .env), or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for a team server",
                )
            return self.local_label_studio_token
        if not self.label_studio_api_key:
            raise BuilderError(
                f"LABEL_STUDIO_URL is set ({self.server_url_shown}) but LABEL_STUDIO_API_KEY is "
                "not",
                fix="set LABEL_STUDIO_API_KEY in the environment or in .env",
            )
        return self.label_studio_api_key

    def save_local_login(self, email: str, password: str, token: str) -> None:
        """Write the local server's login to `.env`: this module owns that file and its names."""
        write_dotenv(
            self.dotenv,
            {EMAIL_KEY: email, PASSWORD_KEY: password, TOKEN_KEY: token},
        )


def settings_error(exc: ValidationError) -> BuilderError:
    """One error naming every bad value, what it should be, and where to change it."""
    lines, names, fixes = [], [], []
    for error in exc.errors():
        field_name = str(error["loc"][0]) if error["loc"] else ""
        field_name = "root" if field_name == "BUILDER_ROOT" else field_name
        name = env_name(field_name)
        info = Settings.model_fields.get(field_name)
        extra = info.json_schema_extra if info and isinstance(info.json_schema_extra, dict) else {}
        secret = info is not None and info.annotation is Secret
        shown = "**********" if secret else error["input"]
        if error["type"] == "setting":
            reason = error["msg"]
        else:
            reason = f"must be {extra.get('expect') or error['msg']}"
        lines.append(f"{name}={shown!r} {reason}")
        names.append(name)
        if extra.get("fix"):
            fixes.append(str(extra["fix"]))
    general = (
        f"set a good {' and '.join(names)} in the environment or in .env "
        "(see README: Configuration)"
    )
    return BuilderError("\n".join(lines), fix="; ".join([*fixes, general]))


# The local server's login in .env: written by `make labelstudio` (save_local_login), read above.
EMAIL_KEY = env_name("local_label_studio_email")
PASSWORD_KEY = env_name("local_label_studio_password")
TOKEN_KEY = env_name("local_label_studio_token")


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


# Defaults of settings that steps also take as plain arguments (declared above, once).
DEFAULT_PORT: int = _default("label_studio_port")
DEFAULT_SYNC_BATCH_SIZE: int = _default("sync_batch_size")
DEFAULT_PULL_PAGE_SIZE: int = _default("pull_page_size")
DEFAULT_STANCE_TOP_K: int = _default("stance_top_k")
DEFAULT_STANCE_MIN_SIMILARITY: float = _default("stance_min_similarity")
DEFAULT_AGGREGATION: str = _default("aggregation")
DEFAULT_SUGGEST_MIN_LABELS: int = _default("suggest_min_labels")
DEFAULT_MIN_POSTERIOR: float = _default("min_posterior")
DEFAULT_DATASET_LICENSE: str = _default("dataset_license")


def debug_requested() -> bool:
    """BUILDER_DEBUG from the environment, before the settings are read (they may be the error)."""
    return os.environ.get("BUILDER_DEBUG", "").strip().lower() in ("1", "true", "yes")


def _shown_default(name: str) -> str:
    info = Settings.model_fields[name]
    if name == "root":
        return "the current folder"
    if name == "label_studio_bin":
        return "`.venv-labelstudio/bin/label-studio`"
    default = info.get_default(call_default_factory=False)
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if default == "":
        return "unset"
    if isinstance(default, bool):
        default = int(default)
    return f"`{default}`"


def setting_help(name: str) -> str:
    """A command line option's help for a setting it overrides: meaning, variable, default."""
    info = Settings.model_fields[name]
    return f"{info.description} (default: {env_name(name)} or {_shown_default(name)})"


def settings_table(settings: Settings | None = None) -> str:
    """Every setting: the README's configuration table, or (given settings) the current values."""
    rows = []
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        expect = str(extra.get("expect") or "text")
        if settings is None:
            rows.append(
                f"| `{env_name(name)}` | {_shown_default(name)} | {expect} | {info.description} |"
            )
        else:
            value = getattr(settings, name)
            shown = "(set)" if isinstance(value, SecretStr) and value else value
            if isinstance(value, str) and "://" in value:
                shown = redact_url(value)  # a database or server URL may carry a password
            rows.append(f"{env_name(name)}={shown}\n    {info.description}; {expect}")
    if settings is None:
        return "\n".join(
            ["| variable | default | values | meaning |", "| --- | --- | --- | --- |", *rows]
        )
    return "\n".join(rows)
