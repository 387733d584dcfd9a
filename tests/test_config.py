"""Settings: the environment over .env over defaults, .env parsing, secrets, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from builder.core.config import (
    DEFAULT_STANCE_MIN_SIMILARITY,
    DEFAULT_STANCE_TOP_K,
    MAX_PROJECT_TITLE,
    Secret,
    Settings,
    env_name,
    read_dotenv,
    settings_table,
)
from builder.core.errors import BuilderError

KEYS = (
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_API_KEY",
    "LOCAL_LABEL_STUDIO_TOKEN",
    "LABEL_STUDIO_PORT",
    "DATASET_NAME",
    "TEST_SIZE",
    "SPLIT_SEED",
    "ANNOTATIONS_PER_TASK",
    "STANCE_TOP_K",
    "STANCE_MIN_SIMILARITY",
    "CLAIMS_PROJECT_TITLE",
    "STANCE_PROJECT_TITLE",
    "BUILDER_ROOT",
    "BUILDER_DEBUG",
    "LABEL_STUDIO_BIN",
    "SYNC_BATCH_SIZE",
    "PULL_PAGE_SIZE",
    "MAX_TASKS_PER_PROJECT",
    "LABEL_STUDIO_DATABASE",
    "LABEL_STUDIO_WORKERS",
    "BUILDER_LOCK_WAIT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)


def settings_with(tmp_path: Path, env_text: str = "") -> Settings:
    if env_text:
        (tmp_path / ".env").write_text(env_text, encoding="utf-8")
    return Settings.load(tmp_path)


def test_defaults(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    assert settings.root == tmp_path.resolve()
    assert settings.uses_local_server
    assert settings.port == 8080
    assert settings.server_url == "http://127.0.0.1:8080"
    assert settings.dataset_name == "factcheck"
    assert settings.dataset_dir == tmp_path.resolve() / "exports" / "factcheck"
    assert settings.test_size == 0.2
    assert settings.split_seed == 13
    assert settings.annotations_per_task == 1
    assert settings.stance_top_k == 3
    assert settings.stance_min_similarity == 0.12
    assert settings.claims_project_title == "Fact-check claims"
    assert settings.pull_page_size == 5000
    assert settings.label_studio_database == ""
    assert settings.label_studio_workers == 0
    assert settings.aggregation == "dawid-skene"
    assert settings.min_posterior == 0.8
    assert settings.dataset_license == "unknown"


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DATASET_NAME=from-dotenv\nSPLIT_SEED=5\n", encoding="utf-8")
    monkeypatch.setenv("DATASET_NAME", "from-env")
    settings = Settings.load(tmp_path)
    assert settings.dataset_name == "from-env"
    assert settings.split_seed == 5  # not in the environment: .env gives it
    # An empty variable in the shell does not hide the .env value.
    monkeypatch.setenv("SPLIT_SEED", "")
    assert Settings.load(tmp_path).split_seed == 5


def test_root_from_builder_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DATASET_NAME=here\n", encoding="utf-8")
    monkeypatch.setenv("BUILDER_ROOT", str(tmp_path))
    settings = Settings.load()
    assert settings.root == tmp_path.resolve()
    assert settings.dataset_name == "here"


def test_dotenv_parsing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "\ufeffFIRST=one\n"
        "# a comment\n"
        "   # an indented comment\n"
        "\n"
        "PLAIN=value\n"
        "SPACED = spaced value  \n"
        'DOUBLE="double # not a comment"\n'
        "SINGLE='single quoted'\n"
        "export EXPORTED=yes\n"
        "export  QUOTED_EXPORT='q'\n"
        "EMPTY=\n"
        "EQUALS=a=b=c\n"
        "INLINE=abc123 # my key\n"
        'QUOTED_INLINE="x y" # why\n'
        "HASH=abc#def\n"
        "no equals sign here\n"
        "PLAIN=second wins\n",
        encoding="utf-8",
    )
    assert read_dotenv(path) == {
        "FIRST": "one",
        "PLAIN": "second wins",
        "SPACED": "spaced value",
        "DOUBLE": "double # not a comment",
        "SINGLE": "single quoted",
        "EXPORTED": "yes",
        "QUOTED_EXPORT": "q",
        "EMPTY": "",
        "EQUALS": "a=b=c",
        "INLINE": "abc123",
        "QUOTED_INLINE": "x y",
        "HASH": "abc#def",
    }
    assert read_dotenv(tmp_path / "missing.env") == {}


def test_secret_never_shows_its_value(tmp_path: Path) -> None:
    secret = Secret("s3cr3t-value")
    assert secret.reveal() == "s3cr3t-value"
    for shown in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s:>5}",
        format(secret),
    ):
        assert "s3cr3t" not in shown
    assert "s3cr3t" not in repr([secret]) and "s3cr3t" not in repr({"key": secret})
    assert bool(secret) and not Secret("")


def test_settings_repr_hides_the_api_key(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, "LABEL_STUDIO_URL=https://ls.example/\nLABEL_STUDIO_API_KEY=abc-secret-123\n"
    )
    assert "abc-secret-123" not in repr(settings)
    key = settings.api_key
    assert isinstance(key, Secret) and key.reveal() == "abc-secret-123"
    assert "abc-secret-123" not in repr(key)
    assert settings.server_url == "https://ls.example"
    assert not settings.uses_local_server


def test_local_server_key(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "LOCAL_LABEL_STUDIO_TOKEN=tok\nLABEL_STUDIO_PORT=9001\n")
    assert settings.api_key.reveal() == "tok"
    assert settings.server_url == "http://127.0.0.1:9001"


def test_team_server_without_api_key(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "LABEL_STUDIO_URL=https://ls.example\n")
    with pytest.raises(BuilderError) as error:
        _ = settings.api_key
    assert "LABEL_STUDIO_API_KEY" in error.value.message
    assert "https://ls.example" in error.value.message
    assert error.value.fix is not None and "LABEL_STUDIO_API_KEY" in error.value.fix
    assert ".env" in error.value.fix


def test_local_server_without_token(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "LABEL_STUDIO_API_KEY=unused-without-url\n")
    with pytest.raises(BuilderError) as error:
        _ = settings.api_key
    assert "LOCAL_LABEL_STUDIO_TOKEN" in error.value.message
    assert error.value.fix is not None and "make labelstudio" in error.value.fix
    assert "unused-without-url" not in str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "attribute"),
    [
        ("TEST_SIZE", "0", "test_size"),
        ("TEST_SIZE", "1", "test_size"),
        ("TEST_SIZE", "1.5", "test_size"),
        ("TEST_SIZE", "-0.2", "test_size"),
        ("TEST_SIZE", "a fifth", "test_size"),
        ("TEST_SIZE", "nan", "test_size"),
        ("SPLIT_SEED", "1.5", "split_seed"),
        ("SPLIT_SEED", "seed", "split_seed"),
        ("ANNOTATIONS_PER_TASK", "0", "annotations_per_task"),
        ("ANNOTATIONS_PER_TASK", "-1", "annotations_per_task"),
        ("ANNOTATIONS_PER_TASK", "2.0", "annotations_per_task"),
        ("ANNOTATIONS_PER_TASK", "two", "annotations_per_task"),
        ("ANNOTATIONS_PER_TASK", "²", "annotations_per_task"),
        ("DATASET_NAME", "../elsewhere", "dataset_name"),
        ("DATASET_NAME", "my dataset", "dataset_name"),
        ("DATASET_NAME", "a/b", "dataset_name"),
        ("DATASET_NAME", "--", "dataset_name"),
        ("LABEL_STUDIO_PORT", "http", "port"),
        ("LABEL_STUDIO_PORT", "0", "port"),
        ("LABEL_STUDIO_PORT", "70000", "port"),
        ("LABEL_STUDIO_PORT", "-8080", "port"),
        ("STANCE_TOP_K", "0", "stance_top_k"),
        ("STANCE_TOP_K", "three", "stance_top_k"),
        ("STANCE_TOP_K", "³", "stance_top_k"),
        ("STANCE_MIN_SIMILARITY", "1.5", "stance_min_similarity"),
        ("STANCE_MIN_SIMILARITY", "-0.1", "stance_min_similarity"),
        ("STANCE_MIN_SIMILARITY", "high", "stance_min_similarity"),
        ("PULL_PAGE_SIZE", "0", "pull_page_size"),
        ("PULL_PAGE_SIZE", "all", "pull_page_size"),
        ("LABEL_STUDIO_WORKERS", "-1", "label_studio_workers"),
        ("LABEL_STUDIO_WORKERS", "three", "label_studio_workers"),
        ("AGGREGATION", "mean", "aggregation"),
        ("AGGREGATION", "dawid_skene", "aggregation"),
        ("MIN_POSTERIOR", "1.2", "min_posterior"),
        ("MIN_POSTERIOR", "likely", "min_posterior"),
        ("DATASET_LICENSE", "CC BY 4.0", "dataset_license"),
        ("DATASET_LICENSE", "mit/../x", "dataset_license"),
    ],
)
def test_bad_values_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, attribute: str
) -> None:
    monkeypatch.setenv(key, value)
    # Checked at start: loading the settings fails, whatever is read later.
    with pytest.raises(BuilderError) as error:
        getattr(Settings.load(tmp_path), attribute)
    assert error.value.message.startswith(f"{key}={value!r}")
    assert error.value.fix is not None and key in error.value.fix


def test_the_port_reaches_the_server_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABEL_STUDIO_PORT", "70000")
    with pytest.raises(BuilderError, match="LABEL_STUDIO_PORT"):
        _ = Settings.load(tmp_path).server_url


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        ("TEST_SIZE", "0.35", "test_size", 0.35),
        ("SPLIT_SEED", "-7", "split_seed", -7),
        ("ANNOTATIONS_PER_TASK", "3", "annotations_per_task", 3),
        ("DATASET_NAME", "fact_check-2", "dataset_name", "fact_check-2"),
        ("LABEL_STUDIO_PORT", "65535", "port", 65535),
        ("STANCE_TOP_K", "10", "stance_top_k", 10),
        ("STANCE_MIN_SIMILARITY", "0", "stance_min_similarity", 0.0),
        ("STANCE_MIN_SIMILARITY", "1", "stance_min_similarity", 1.0),
        ("PULL_PAGE_SIZE", "100", "pull_page_size", 100),
        ("LABEL_STUDIO_WORKERS", "3", "label_studio_workers", 3),
        ("AGGREGATION", "majority", "aggregation", "majority"),
        ("AGGREGATION", "Dawid-Skene", "aggregation", "dawid-skene"),
        ("MIN_POSTERIOR", "0.95", "min_posterior", 0.95),
        ("DATASET_LICENSE", "CC-BY-4.0", "dataset_license", "cc-by-4.0"),
    ],
)
def test_good_values(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    value: str,
    attribute: str,
    expected: object,
) -> None:
    monkeypatch.setenv(key, value)
    assert getattr(Settings.load(tmp_path), attribute) == expected


def test_every_bad_value_is_named_in_one_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TEST_SIZE=2\nSTANCE_TOP_K=none\n", encoding="utf-8")
    with pytest.raises(BuilderError) as error:
        Settings.load(tmp_path)
    lines = error.value.message.splitlines()
    assert lines == [
        "STANCE_TOP_K='none' must be a whole number ≥ 1",
        "TEST_SIZE='2' must be a number between 0 and 1",
    ] or lines == [
        "TEST_SIZE='2' must be a number between 0 and 1",
        "STANCE_TOP_K='none' must be a whole number ≥ 1",
    ]
    assert "STANCE_TOP_K" in str(error.value.fix) and "TEST_SIZE" in str(error.value.fix)


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_bad_max_tasks_per_project_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MAX_TASKS_PER_PROJECT", value)
    with pytest.raises(BuilderError) as error:
        Settings.load(tmp_path)
    assert error.value.message == f"MAX_TASKS_PER_PROJECT={value!r} must be a whole number ≥ 1"


def test_max_tasks_per_project_defaults_to_label_studios_guidance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings.load(tmp_path).max_tasks_per_project == 100_000
    monkeypatch.setenv("MAX_TASKS_PER_PROJECT", "5")
    assert Settings.load(tmp_path).max_tasks_per_project == 5


def test_a_too_long_title_says_how_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    title = "x" * (MAX_PROJECT_TITLE + 1)
    monkeypatch.setenv("STANCE_PROJECT_TITLE", title)
    with pytest.raises(BuilderError) as error:
        Settings.load(tmp_path)
    assert error.value.message.startswith(
        f"STANCE_PROJECT_TITLE={title!r} is {len(title)} characters long; at most "
        f"{MAX_PROJECT_TITLE} fit"
    )
    monkeypatch.setenv("STANCE_PROJECT_TITLE", title[:-1])
    assert Settings.load(tmp_path).stance_project_title == title[:-1]


def test_label_studio_bin_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from builder.labelstudio.server import label_studio_bin

    missing = tmp_path / "nowhere" / "label-studio"
    monkeypatch.setenv("LABEL_STUDIO_BIN", str(missing))
    settings = Settings.load(tmp_path)
    assert settings.label_studio_bin == missing
    with pytest.raises(BuilderError) as error:
        label_studio_bin(settings)
    assert str(missing) in error.value.message and "LABEL_STUDIO_BIN" in str(error.value.fix)


def test_builder_debug_is_a_checked_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDER_DEBUG", "1")
    assert Settings.load(tmp_path).builder_debug is True
    monkeypatch.setenv("BUILDER_DEBUG", "perhaps")
    with pytest.raises(BuilderError, match="^BUILDER_DEBUG='perhaps'"):
        Settings.load(tmp_path)


def test_the_readme_configuration_table_is_generated_from_the_settings() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme
    for name in Settings.model_fields:
        assert f"`{env_name(name)}`" in settings_table()
    assert "`BUILDER_ROOT`" in readme and "`LABEL_STUDIO_BIN`" in readme


def test_every_variable_the_code_reads_is_a_setting() -> None:
    """No module reads the environment behind the settings' back."""
    package = Path(__file__).resolve().parents[1] / "builder"
    readers = {}
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"os\.environ(?:\.get)?[\[(]\s*\"?'?([A-Za-z_]*)", text):
            readers.setdefault(name, []).append(path.name)
        if "os.getenv" in text:
            readers.setdefault("os.getenv", []).append(path.name)
    declared = {env_name(name) for name in Settings.model_fields}
    # config.py: the one reader (BUILDER_ROOT locates .env; BUILDER_DEBUG before the settings).
    assert {name for name in readers if name not in declared} == set(), readers
    assert {file for name, files in readers.items() for file in files} <= {"config.py"}


def test_help_shows_the_declared_defaults() -> None:
    from builder.cli.main import parser

    stance = parser()._subparsers._group_actions[0].choices["stance"]  # type: ignore[union-attr]
    text = stance.format_help()
    assert f"STANCE_TOP_K or `{DEFAULT_STANCE_TOP_K}`" in " ".join(text.split())
    assert f"STANCE_MIN_SIMILARITY or `{DEFAULT_STANCE_MIN_SIMILARITY}`" in " ".join(text.split())
