"""Which server project is ours: the id the builder created or first found it with, not its title.

The ids live in `.builder/projects.json`, per server and per project name (claims, stance and
their adjudication projects), with the title setting they were found or created under. A title
changed in Label Studio's UI is reported and the project still used; a title changed in the
settings means another project (that is how a user starts a new one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder.core import atomic
from builder.core.errors import BuilderError
from builder.core.projects import member_name, member_title
from builder.labelstudio.client import LabelStudioClient, ProjectInfo

FILE_NAME = "projects.json"


@dataclass(frozen=True)
class Recorded:
    id: int
    title: str  # the title setting the project was created or found under


def _path(state_dir: Path) -> Path:
    return Path(state_dir) / FILE_NAME


def _load(state_dir: Path) -> dict[str, dict[str, dict]]:
    path = _path(state_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    except ValueError:
        pass
    raise BuilderError(
        f"{path} is damaged (not the JSON object of project ids the builder writes)",
        fix=f"delete {path}: the projects are then found again by their titles",
    )


def recorded(state_dir: Path, server: str, name: str) -> Recorded | None:
    entry = _load(state_dir).get(server, {}).get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
        return None
    return Recorded(entry["id"], str(entry.get("title", "")))


def record(state_dir: Path, server: str, name: str, info: ProjectInfo, title: str) -> None:
    data = _load(state_dir)
    data.setdefault(server, {})[name] = {"id": info.id, "title": title}
    atomic.write_json(_path(state_dir), data)


def resolve(
    client: LabelStudioClient,
    state_dir: Path,
    name: str,
    title: str,
    remember: bool = True,
    say: Callable[[str], None] = print,
) -> ProjectInfo | None:
    """Our project `name` on the client's server, or None if there is none yet.

    By its recorded id when the title setting is the one it was recorded under; otherwise (a
    first run here, or a new title setting) the oldest project of that title, then recorded.
    """
    known = recorded(state_dir, client.url, name)
    if known is not None and known.title == title:
        info = client.project_or_none(known.id)
        if info is None:
            raise BuilderError(
                f"project {known.id} ({name}, created or found as {title!r}) is gone from "
                f"{client.url}: deleted in Label Studio?",
                fix=f"its pulls are kept in exports/pulls/. To start a new project, set another "
                f"title or remove {name!r} from {_path(state_dir)}",
            )
        if info.title != title:
            say(
                f"note: project {info.id} ({name}) is titled {info.title!r} in Label Studio, "
                f"not {title!r} (renamed there?); still using it, by its id"
            )
        return info
    found = client.find_projects(title)
    if not found:
        return None
    if len(found) > 1:
        say(
            f"warning: {len(found)} projects are titled {title!r} (ids {found}); using the oldest, "
            f"{found[0]}: check the others in Label Studio"
        )
    info = client.project(found[0])
    if remember:
        record(state_dir, client.url, name, info, title)
    return info


def create(
    client: LabelStudioClient,
    state_dir: Path,
    name: str,
    title: str,
    label_config: str,
    description: str,
    maximum_annotations: int = 1,
    say: Callable[[str], None] = print,
) -> ProjectInfo:
    """Create project `name`, and record it.

    Two machines creating the same project at once (no lock spans machines) would leave two
    projects of one title: whoever sees an older one of that title removes its own new, still
    empty project and uses the older one, so both end with the same project.
    """
    info = client.create_project(title, label_config, description, maximum_annotations)
    older = [i for i in client.find_projects(title) if i < info.id]
    if older and client.project(info.id).task_count == 0:
        client.delete_project(info.id)
        say(
            f"project {title!r} was created at the same time by another run (id {older[0]}); "
            f"using that one"
        )
        info = client.project(older[0])
    else:
        say(f"created project {title!r} (id {info.id}) at {client.url}")
    record(state_dir, client.url, name, info, title)
    return info


def resolve_set(
    client: LabelStudioClient,
    state_dir: Path,
    name: str,
    title: str,
    remember: bool = True,
    say: Callable[[str], None] = print,
) -> list[ProjectInfo]:
    """Every project of `name`'s set on the server, in order: the first, then its
    continuations ("<title> · 2", …, see core/projects.py) up to the first that is missing."""
    found: list[ProjectInfo] = []
    while True:
        member = len(found) + 1
        info = resolve(
            client,
            state_dir,
            member_name(name, member),
            member_title(title, member),
            remember=remember,
            say=say,
        )
        if info is None:
            return found
        found.append(info)
