"""The settings a data root's videos are processed with: ``<data root>/settings/process_videos.yaml``.

The file holds the run config of the per-video assets (``ops: {sampled_frames: {config: ...}, ...}``) that the
commands last ran the data root with (``demo``, ``curate`` with options). The code location reads it as the
``process_videos`` job's default run config (what the UI's launchpad shows and launches), the new-videos sensor
puts it on each run request, and ``curate`` without options uses it: a video processed from the UI is processed
as the command-line ones were. Options given to a command replace what they set and are saved here.
No file: the assets' defaults (for real footage).
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
import yaml

from training.data.storage import atomic_path
from training.data_root import DataRoot

# Values of one op that only make sense together: an option that sets one of them replaces the saved others
# (``--keyframes-per-video`` after a profile that spaced keyframes by time must not keep that min_interval_s).
TOGETHER = {"keyframes": {"keyframes_per_video", "min_interval_s"}}

HEADER = """\
# Settings of the per-video processing (job `process_videos`) of the data root {root}:
# the run config of the per-video assets. Written by `inverse-painting {by}` on {when}.
# Used by: the process_videos job in the Dagster UI (its launchpad's defaults; reload the code location
# after editing), the new-videos sensor's runs, and `inverse-painting curate` run without options.
# Options given to a command replace the values they set and are saved here.
# Edit by hand, or delete this file to use the assets' defaults. Only `ops:` is read:
#   ops: {{<asset>: {{config: {{<field>: <value>}}}}}}
"""


class SettingsError(ValueError):
    """The settings file cannot be used; the message names the file and the fix."""


def settings_path(data_root: Path | str) -> Path:
    return DataRoot(data_root).process_videos_settings_path


FIX = "fix it by hand (the comment at its top says what it holds) or delete it to use the assets' defaults"


def load_settings(data_root: Path | str) -> dict[str, Any]:
    """The saved run config (``{"ops": {...}}``), ``{}`` when there is no file; SettingsError when malformed."""
    path = settings_path(data_root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"{path}: cannot be read ({err}); {FIX}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SettingsError(f"{path}: not valid YAML ({' '.join(str(err).split())}); {FIX}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or set(loaded) - {"ops"}:
        found = sorted(map(str, loaded)) if isinstance(loaded, dict) else type(loaded).__name__
        raise SettingsError(f"{path}: expected a mapping with only the key `ops`, found {found}; {FIX}")
    ops = loaded.get("ops") or {}
    if not isinstance(ops, dict):
        raise SettingsError(f"{path}: `ops` must map asset names to {{config: ...}}; {FIX}")
    for name, entry in ops.items():
        if not isinstance(entry, dict) or set(entry) - {"config"} or not isinstance(entry.get("config", {}), dict):
            raise SettingsError(f"{path}: `ops.{name}` must be `{{config: {{<field>: <value>}}}}`; {FIX}")
    return {"ops": ops} if ops else {}


def combine(saved: Mapping[str, Any], explicit: Mapping[str, Any]) -> dict[str, Any]:
    """``saved`` with ``explicit`` on top, field by field (values set together are replaced together)."""
    ops: dict[str, Any] = copy.deepcopy(dict(saved.get("ops") or {}))
    for name, entry in (explicit.get("ops") or {}).items():
        given = dict(entry.get("config") or {})
        kept = dict((ops.get(name) or {}).get("config") or {})
        together = TOGETHER.get(name, set())
        if together & set(given):
            kept = {k: v for k, v in kept.items() if k not in together}
        ops[name] = {"config": {**kept, **given}}
    return {"ops": ops} if ops else {}


def for_assets(run_config: Mapping[str, Any], assets: Iterable[str]) -> dict[str, Any]:
    """Only the ops of ``assets`` (a run of a few assets is given only their settings)."""
    wanted = set(assets)
    ops = {name: entry for name, entry in (run_config.get("ops") or {}).items() if name in wanted}
    return {"ops": ops} if ops else {}


def write_settings(data_root: Path | str, run_config: Mapping[str, Any], written_by: str) -> Path:
    """Save ``run_config`` as the data root's settings (atomically; a comment on top says what it is)."""
    path = settings_path(data_root)
    header = HEADER.format(
        root=path.parent.parent, by=written_by, when=dt.datetime.now().astimezone().isoformat(timespec="seconds")
    )
    body = yaml.safe_dump({"ops": dict(run_config.get("ops") or {})}, sort_keys=True, default_flow_style=False)
    with atomic_path(path) as tmp:
        tmp.write_text(header + body, encoding="utf-8")
    return path


def describe(run_config: Mapping[str, Any]) -> str:
    """``sampled_frames.sample_every_s=1.0, keyframes.keyframes_per_video=10`` (or ``the assets' defaults``)."""
    parts = [
        f"{name}.{field}={value}"
        for name, entry in sorted((run_config.get("ops") or {}).items())
        for field, value in sorted((entry.get("config") or {}).items())
    ]
    return ", ".join(parts) or "the assets' defaults"


@dataclass(frozen=True)
class ChainSettings:
    """The run config a command processes videos with, and where it came from."""

    run_config: dict[str, Any]
    path: Path
    saved: bool  # the command's options were written to ``path``
    from_file: bool  # ``path`` existed before the command

    def note(self) -> str:
        """One line for the command's output."""
        what = describe(self.run_config)
        if self.saved:
            return f"settings: {what}; saved to {self.path} (the process_videos defaults in the UI and the sensor)"
        if self.from_file:
            return f"settings: {what}, from {self.path}"
        return f"settings: the assets' defaults (no {self.path}; options such as --sample-every are saved there)"


def chain_settings(data_root: Path | str, explicit: Mapping[str, Any] | None = None) -> ChainSettings:
    """What a command runs with: the saved settings with ``explicit`` (the command's options) on top.
    Nothing is written; see :func:`apply_chain_settings`."""
    path = settings_path(data_root)
    saved = load_settings(data_root)
    explicit = explicit or {}
    return ChainSettings(combine(saved, explicit), path, saved=bool(explicit.get("ops")), from_file=path.is_file())


def apply_chain_settings(data_root: Path | str, explicit: Mapping[str, Any] | None, written_by: str) -> ChainSettings:
    """:func:`chain_settings`, and when the command gave options, save the result as the data root's settings."""
    settings = chain_settings(data_root, explicit)
    if settings.saved:
        write_settings(data_root, settings.run_config, written_by)
    return settings


def config_classes(assets: Iterable[dg.AssetsDefinition]) -> dict[str, type[dg.Config]]:
    """Op name -> the asset's pydantic Config class (its value constraints, e.g. ``gt=0``)."""
    classes: dict[str, type[dg.Config]] = {}
    for asset in assets:
        fn = getattr(asset.op.compute_fn, "decorated_fn", None)
        param = inspect.signature(fn).parameters.get("config") if fn is not None else None
        if param is not None and inspect.isclass(param.annotation) and issubclass(param.annotation, dg.Config):
            classes[asset.op.name] = param.annotation
    return classes


def validate_settings(
    job: dg.JobDefinition, run_config: Mapping[str, Any], path: Path, classes: Mapping[str, type[dg.Config]]
) -> None:
    """SettingsError naming ``path`` unless ``run_config`` is a valid run config of ``job`` with valid values."""
    if not run_config:
        return
    try:
        dg.validate_run_config(job, dict(run_config))
    except dg.DagsterInvalidConfigError as err:
        problems = "; ".join(e.message.split(" Expected:")[0].strip() for e in err.errors)
        raise SettingsError(f"{path}: not settings of {job.name} ({problems}); {FIX}") from None
    for name, entry in (run_config.get("ops") or {}).items():
        if name in classes:
            try:
                classes[name](**(entry.get("config") or {}))
            except pydantic.ValidationError as err:  # a value out of its range (the config schema checks types)
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
                raise SettingsError(f"{path}: ops.{name}.config: {detail}; {FIX}") from None
