"""`switchyard profile MODEL_DIR --data DIR`: the drift reference of one model version (docs/drift.md).

Sample inputs (.npy: the model's only input; .npz: arrays named like the inputs) run through
the model's backend directly, no server; the inputs and outputs seen are summarised per
channel or feature and written to <model>/<version>/profile.json. For a model that declares
`preprocess`, JPEG and PNG pictures may be given too: they are decoded and preprocessed as
the server does, and their frame statistics (brightness, contrast, blur) enter the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from service.cli.errors import CliError, require_extra

TENSOR_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def profile(
    model_dir: Annotated[Path, typer.Argument(help="the model's folder (holding config.yaml and version folders)")],
    data: Annotated[Path, typer.Option("--data", help="a folder of .npy/.npz sample inputs (or JPEG/PNG pictures)")],
    version: Annotated[int | None, typer.Option(help="the version to profile (default: the newest)")] = None,
    batch: Annotated[int, typer.Option(min=1, help="items per backend call")] = 64,
) -> None:
    """Build a model version's drift reference (profile.json) from sample inputs."""
    require_extra("server", "profile")
    from service.drift.profile import PROFILE_FILE, Profile, write_profile
    from service.repository.config import load_model_config
    from service.repository.loader import ModelLoader
    from service.settings import ServerSettings

    config = load_model_config(model_dir / "config.yaml")
    version_dir = model_dir / str(version if version is not None else _newest(model_dir))
    if not version_dir.is_dir():
        raise CliError(f"{model_dir.name} has no version folder {version_dir.name}")
    suffixes = TENSOR_SUFFIXES + (IMAGE_SUFFIXES if config.preprocess is not None else ())
    files = sorted(p for p in data.iterdir() if p.suffix.lower() in suffixes) if data.is_dir() else []
    if not files:
        raise CliError(f"{data}: no {' / '.join(suffixes)} files")
    settings = ServerSettings(model_repository=model_dir.parent)
    loaded = ModelLoader(settings).load(model_dir.name, config, version_dir)
    names = [t.name for t in loaded.signature.inputs]
    max_features = config.drift.max_features if config.drift is not None else 64
    # Without a batch dimension the model takes each sample file whole.
    step = min(batch, config.max_batch_size) if config.max_batch_size else 0
    result, items = Profile(), 0
    pictures = any(p.suffix.lower() in IMAGE_SUFFIXES for p in files)
    image_input = _image_input(model_dir.name, config, names) if pictures else None
    try:
        for path in files:
            if image_input is not None and path.suffix.lower() in IMAGE_SUFFIXES:
                inputs = _picture(path, image_input, result, settings.max_image_pixels)
            else:
                inputs = _read(path, names)
            count = len(next(iter(inputs.values())))
            for start in range(0, count, step) if step else (0,):
                chunk = {n: a[start : start + step] for n, a in inputs.items()} if step else inputs
                result.add(chunk, loaded.backend.infer(chunk), max_features)
            items += count
    finally:
        loaded.backend.unload()
    write_profile(result, version_dir / PROFILE_FILE)
    print(f"profiled {items} items from {len(files)} files into {model_dir.name}/{version_dir.name}/{PROFILE_FILE}")


def _newest(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise CliError(f"{model_dir.name} has no version folders")
    return max(versions)


def _image_input(model: str, config, names: list[str]) -> tuple[str, Callable]:
    """(the input pictures go to, the server's preprocessing for them), chosen as the server does."""
    from protos.errors import SwitchyardError
    from service.vision.pipeline import image_input_name
    from service.vision.preprocess import Preprocessor

    try:
        return image_input_name(model, names, config.preprocess), Preprocessor(config.preprocess)
    except SwitchyardError as exc:
        raise CliError(exc.message) from None


def _picture(path: Path, image_input: tuple[str, Callable], result, max_pixels: int) -> dict[str, np.ndarray]:
    """A picture decoded and preprocessed as the server does; its frame statistics go into the profile."""
    from service.drift.frames import frame_statistics
    from service.vision.decode import decode_image

    image = decode_image(path.read_bytes(), max_pixels, path.name)
    result.add_frame(frame_statistics(image))
    name, preprocess = image_input
    tensor, _ = preprocess(image)
    return {name: tensor}


def _read(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    if path.suffix == ".npy":
        if len(names) != 1:
            raise CliError(f"{path.name}: the model has {len(names)} inputs; give them in a .npz named after each")
        return {names[0]: np.load(path, allow_pickle=False)}
    with np.load(path, allow_pickle=False) as archive:
        missing = [n for n in names if n not in archive.files]
        if missing:
            raise CliError(f"{path.name}: no array for input '{missing[0]}' (has {', '.join(archive.files)})")
        return {n: archive[n] for n in names}
