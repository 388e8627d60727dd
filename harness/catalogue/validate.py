"""``harness tasks validate``: every problem in every file, as ``FILE:LINE: field: message``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.catalogue.loader import Catalogue, is_catalogue_file, load_document
from harness.catalogue.schema import GridSpec, TaskSpec
from harness.data.split_checks import static_problems
from harness.errors import HarnessError, ValidationErrors
from harness.resources import task_folders


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*.yaml")) if is_catalogue_file(p, path))
        else:
            files.append(path)
    return files


def validate_paths(
    paths: list[Path], tasks_dir: Path | Sequence[Path] | None = None
) -> tuple[list[HarnessError], int]:
    """Validate files (default: every tasks folder). Grids are also checked against the catalogue.

    ``tasks_dir``: one folder, or the folders in override order (default: ``task_folders()``)."""
    folders = (
        task_folders() if tasks_dir is None else [tasks_dir] if isinstance(tasks_dir, Path) else tasks_dir
    )
    files = _files(paths or list(folders))
    errors: list[HarnessError] = []
    loaded = []
    for path in files:
        if not path.exists():
            errors.append(HarnessError("file not found", file=path))
            continue
        try:
            loaded.append(load_document(path))
            if isinstance(loaded[-1].spec, TaskSpec):
                errors.extend(static_problems(loaded[-1].spec, path))
        except ValidationErrors as exc:
            errors.extend(exc.errors)
        except HarnessError as exc:
            errors.append(exc)
    grids = [item for item in loaded if isinstance(item.spec, GridSpec)]
    if grids or not paths:
        try:
            catalogue = Catalogue.load(folders)
        except ValidationErrors as exc:
            catalogue = None
            errors.extend(e for e in exc.errors if e.render() not in {x.render() for x in errors})
        except HarnessError as exc:
            catalogue = None
            if exc.render() not in {x.render() for x in errors}:
                errors.append(exc)
        if catalogue is not None:
            for item in grids:
                try:
                    catalogue.check_grid(item.as_grid(), item.path)
                except HarnessError as exc:
                    errors.append(exc)
    return errors, len(files)
