"""`orca-ray models ...`: model names to local directories."""

from orca_ray.models import TINY_MODEL, prepare_model


def prepare(args) -> int:
    print(prepare_model(args.name))
    return 0


def tiny(args) -> int:
    print(prepare_model(TINY_MODEL))
    return 0
