"""TensorRT optimisation profiles: min/opt/max shapes per input, from config or derived.

Pure: works on (name, shape) pairs with -1 for dynamic dims, so it is unit-tested without
TensorRT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backends.options import TensorRTOptions
from protos.errors import BackendLoadError


@dataclass(frozen=True)
class Profile:
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def as_key(self) -> list[list[int]]:
        return [list(self.min), list(self.opt), list(self.max)]


def derive_profiles(inputs: Sequence[tuple[str, tuple[int, ...]]], options: TensorRTOptions) -> dict[str, Profile]:
    """One profile per input: configured ones are checked, the others derived.

    Derivation: a static dim is (d, d, d); a dynamic batch dim (dim 0) is
    (1, opt_batch_size or max_batch_size, max_batch_size); any other dynamic dim takes
    options.dim_range, and without one the input needs an explicit profile.
    """
    names = {name for name, _ in inputs}
    unknown = sorted(set(options.profiles) - names)
    if unknown:
        raise BackendLoadError(f"profiles name unknown inputs {unknown}; the model has {sorted(names)}")
    profiles: dict[str, Profile] = {}
    for name, shape in inputs:
        configured = options.profiles.get(name)
        if configured is not None:
            profiles[name] = _checked(name, shape, Profile(configured.min, configured.opt, configured.max))
        else:
            profiles[name] = _derived(name, shape, options)
    return profiles


def _derived(name: str, shape: tuple[int, ...], options: TensorRTOptions) -> Profile:
    lows, opts, highs = [], [], []
    for axis, dim in enumerate(shape):
        if dim >= 0:
            low = opt = high = dim
        elif axis == 0:
            low, opt, high = (
                1,
                min(options.opt_batch_size or options.max_batch_size, options.max_batch_size),
                options.max_batch_size,
            )
        elif options.dim_range is not None:
            low, opt, high = options.dim_range
        else:
            raise BackendLoadError(
                f"input {name!r} dim {axis} of {list(shape)} is dynamic: give profiles.{name} "
                f"(min/opt/max shapes) or dim_range in the tensorrt options"
            )
        lows.append(low)
        opts.append(opt)
        highs.append(high)
    return _checked(name, shape, Profile(tuple(lows), tuple(opts), tuple(highs)))


def _checked(name: str, shape: tuple[int, ...], profile: Profile) -> Profile:
    rank = len(shape)
    if not len(profile.min) == len(profile.opt) == len(profile.max) == rank:
        raise BackendLoadError(f"profile for {name!r} must have rank {rank} like {list(shape)}")
    for axis, (dim, low, opt, high) in enumerate(zip(shape, profile.min, profile.opt, profile.max, strict=True)):
        if not 0 < low <= opt <= high:
            raise BackendLoadError(
                f"profile for {name!r} dim {axis}: need 0 < min <= opt <= max, got {low}/{opt}/{high}"
            )
        if dim >= 0 and not low == opt == high == dim:
            raise BackendLoadError(f"profile for {name!r} dim {axis}: the model fixes it at {dim}")
    return profile
