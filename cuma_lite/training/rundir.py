"""The run directory: refuse to clobber another run, start a fresh one, or find where to resume.

A fresh run writes ``config.yaml`` first; ``--resume`` requires the same config (only ``train.max_steps`` may
change) and continues from the newest *complete* checkpoint.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from cuma_lite.config import Config, dump_config
from cuma_lite.curriculum import CURRICULUM_STATE
from cuma_lite.errors import UserError

logger = logging.getLogger(__name__)

RESUMABLE_CHANGES = {"train.max_steps"}


def check_output_dir(out: Path, cfg: Config, *, resume: bool, overwrite: bool) -> str | None:
    """Refuse to clobber another run (writes nothing); returns the checkpoint to resume from, if any."""
    has_run = (out / "config.yaml").exists()
    if resume:
        if not has_run:
            raise UserError(
                f"--resume: {out} holds no run to resume (no config.yaml); drop --resume to start one."
            )
        _check_same_run(out, cfg)
        return latest_checkpoint(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        what = "another run" if has_run else "files"
        raise UserError(
            f"{out} already holds {what}. Use --resume to continue it, --overwrite to replace it, "
            "or --output to pick another directory."
        )
    return None


def init_output_dir(out: Path, cfg: Config, *, resume: bool) -> None:
    """Start the run directory (a fresh run replaces what :func:`check_output_dir` allowed it to)."""
    if resume:
        return
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    header = (
        ""
        if cfg.reward.label_free
        else "# reward.kind=gold: a SUPERVISED control (gold answers), not label-free\n"
    )
    (out / "config.yaml").write_text(header + dump_config(cfg))


def prepare_output_dir(out: Path, cfg: Config, *, resume: bool, overwrite: bool) -> str | None:
    checkpoint = check_output_dir(out, cfg, resume=resume, overwrite=overwrite)
    init_output_dir(out, cfg, resume=resume)
    return checkpoint


def _check_same_run(out: Path, cfg: Config) -> None:
    import yaml

    saved = yaml.safe_load((out / "config.yaml").read_text())
    # a key added to the config after the run started did not exist there: it ran with the key's default
    defaults = Config().to_dict()
    differs = [
        f"{section}.{key}"
        for section, values in cfg.to_dict().items()
        for key, value in values.items()
        if saved.get(section, {}).get(key, defaults[section][key]) != value
        and f"{section}.{key}" not in RESUMABLE_CHANGES
    ]
    if differs:
        raise UserError(
            f"--resume: the config differs from the run in {out} at {', '.join(differs)}; resume with the same "
            "preset and overrides (only train.max_steps may change)."
        )


def latest_checkpoint(out: Path) -> str | None:
    """The newest *complete* checkpoint. A run killed while saving leaves a partial ``checkpoint-N``; the curriculum
    state is the last file a save writes, so a checkpoint without it is skipped."""
    ckpts = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    complete = [c for c in ckpts if (c / CURRICULUM_STATE).exists()]
    for partial in sorted(set(ckpts) - set(complete)):
        logger.warning(
            "%s is incomplete (the run was stopped while saving it): resuming from an earlier one.", partial
        )
    return str(complete[-1]) if complete else None
