"""What a run for one video will do before it starts: under the weights policy ``real``,
analyzers whose real weights are not in the model home (and that no installed package
ships) are left out of the run and listed with the command that fetches them.

A skipped analyzer is not materialized and never filled with random output; the
intelligence step and the report work with the analyzers that ran. ``--weights auto`` or
``random`` is the opt-in for runs that include every analyzer (demos, benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey

from analyzers.core.registry import all_analyzers, all_signals, closure
from resources.models import ModelStore, fetch_command
from resources.settings import Settings, env_settings

EXIT_SKIPPED = 3  # the CLI's exit code for "done, with analyzers skipped"


@dataclass(frozen=True)
class Skipped:
    """An analyzer left out of a run: the weights it lacks and how to fetch them."""

    analyzer: str
    models: tuple[str, ...]
    commands: tuple[str, ...]

    def reason(self) -> str:
        return f"real weights {', '.join(self.models)} missing; fetch with " + " and ".join(
            f"`{c}`" for c in self.commands
        )


def skipped_analyzers(store: ModelStore, settings: Settings | None = None) -> list[Skipped]:
    """Analyzers (and signal assets) a run leaves out: under the policy ``real`` those
    missing a weights file that they, or a signal they require, load with the configured
    settings (package-shipped weights are built first, once). Empty under ``auto`` and
    ``random``."""
    if store.weights != "real":
        return []
    overrides = (settings or env_settings()).overrides()
    signals = all_signals()

    def signal_weights(names: tuple[str, ...]) -> list:
        return [
            spec
            for n in closure(list(names))
            for spec in signals[n].required_weights(signals[n].make_config(overrides.get(n)))
        ]

    out = []
    owners = [
        *((n, cls.required_weights(cls.make_config(overrides.get(n))), cls.requires)
          for n, cls in all_analyzers().items()),
        *((n, (), (n,)) for n, cls in signals.items() if cls.asset),
    ]  # fmt: skip
    for name, own, requires in owners:
        specs = {s.name: s for s in [*own, *signal_weights(tuple(requires))]}
        missing = [s for s in specs.values() if not store.has_real(s)]
        if missing:
            out.append(
                Skipped(
                    name, tuple(s.name for s in missing), tuple(fetch_command(s) for s in missing)
                )
            )
    return out


def run_selection(
    skipped: list[Skipped], all_keys: list[AssetKey] | None = None
) -> list[AssetKey] | None:
    """The asset keys a run materializes: every one (``all_keys``, default the pipeline's)
    but the skipped analyzers; ``None``, meaning all, when nothing is skipped."""
    if not skipped:
        return None
    if all_keys is None:
        from tiktok_assets.definitions import all_assets

        all_keys = [k for a in all_assets() for k in a.keys]
    out = {AssetKey(s.analyzer) for s in skipped}
    return [k for k in all_keys if k not in out]
