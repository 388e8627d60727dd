"""Where a base model's files come from: the embedded image (the ``demo`` extra), the hub, or a local folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.catalogue.schema import ModelSpec
from harness.errors import HarnessError
from harness.models.loading import check_local_checkpoint


@dataclass(frozen=True)
class ResolvedModel:
    folder: Path
    source: str
    revision: str | None


def parse_source(source: str) -> tuple[str, str, str | None]:
    """``embedded:NAME`` | ``hub:ORG/NAME[@REV]`` | a folder path → (scheme, ident, revision)."""
    if source.startswith("embedded:"):
        return "embedded", source.removeprefix("embedded:"), None
    if source.startswith("hub:"):
        ident, _, rev = source.removeprefix("hub:").partition("@")
        return "hub", ident, rev or None
    return "path", source, None


def resolve_model(spec: ModelSpec, cache_dir: Path | None = None) -> ResolvedModel:
    scheme, ident, revision = parse_source(spec.source)
    if scheme == "embedded":
        from harness.extras import materialize_embedded

        return ResolvedModel(materialize_embedded(ident, cache_dir), spec.source, None)
    if scheme == "hub":
        from huggingface_hub import snapshot_download

        patterns = ["*.json", "*.safetensors", "*.model", "*.txt"] + (["*.bin"] if spec.allow_pickle else [])
        try:
            folder = snapshot_download(ident, revision=revision, allow_patterns=patterns)
        except Exception as exc:  # network, auth, missing repo: one line for the user
            raise HarnessError(
                f"could not download {ident!r} from the hub: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                field="models.source",
            ) from exc
        path = Path(folder)
        check_local_checkpoint(path, allow_pickle=spec.allow_pickle)
        return ResolvedModel(path, spec.source, revision or path.name)
    path = Path(ident).expanduser()
    check_local_checkpoint(path, allow_pickle=spec.allow_pickle)
    return ResolvedModel(path.resolve(), spec.source, None)
