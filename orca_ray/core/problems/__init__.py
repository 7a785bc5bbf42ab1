"""The built-in symbolic teacher: seeded grade-school word problems with exact answers and step-by-step solutions,
and the 'make it harder' transform.

    >>> from orca_ray.core.problems import FAMILIES, generate_problems, make_harder
    >>> len(FAMILIES) >= 12, generate_problems(2, seed=0, families=["ages"])[1].family
    (True, 'ages')
"""

from orca_ray.core.problems.generator import (
    FAMILIES,
    FAMILY_INFO,
    check_families,
    generate_problems,
    iter_problems,
    split_families,
)
from orca_ray.core.problems.harder import make_harder

__all__ = [
    "FAMILIES",
    "FAMILY_INFO",
    "check_families",
    "generate_problems",
    "iter_problems",
    "make_harder",
    "split_families",
]
