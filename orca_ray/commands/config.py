"""`orca-ray config ...`: the resolved run config and the key reference."""

from orca_ray.config import describe_fields, dump_config, load_config


def show(args) -> int:
    print(dump_config(load_config(args.config, args.overrides)), end="")
    return 0


def keys(args) -> int:
    for key, default, help_text in describe_fields():
        print(f"{key:45s} {default:28s} {help_text}" if default else f"\n[{key}] {help_text}")
    return 0
