"""Physical-group names and integer tags of a part, defined once (the FEM looks groups up by *name*).

Cell regions (dimension ``dim``: surfaces in 2D, volumes in 3D) partition the part: every cell is in
exactly one of them, which is what ``dolfinx.io.gmsh.model_to_mesh`` requires (an entity in two
physical groups of the same dimension makes it fail, FEniCS/dolfinx#3332).

==================  ==========================  =========================================
name                integer tag                 cells
==================  ==========================  =========================================
``bond_{i}``        ``1 + i``                   bond ``i`` between the two hub rims
``hub_{j}``         ``1_000_001 + j``           the round hub (disk) of node ``j``
``tab_{j}``         ``2_000_001 + j``           mounting tab of fixed node ``j`` (optional)
``eyelet_{j}``      ``3_000_001 + j``           eyelet of loaded node ``j`` (optional)
==================  ==========================  =========================================

Facet groups (dimension ``dim - 1``: curves in 2D, surfaces in 3D) lie on the part's outer surface
and are disjoint too:

==================  ===  ==========================================================================
``clamp``           1    outer surface of the fixed nodes' hubs (and tabs)
``load_port``       2    outer surface of the loaded nodes' hubs (and eyelets)
``output_port``     3    outer surface of the output nodes' hubs
==================  ===  ==========================================================================

A node that is both loaded and read out gets its facets in ``load_port`` only (a facet cannot be
in two groups); :class:`femnn.part.Part` keeps the full node lists (``load_nodes``,
``output_nodes``) and ``hub_tag[node]``, so the FEM can always use the hub *cells* instead.
Tags depend only on the bond/node index, never on gmsh's entity numbering, so a code without gmsh
can compute them (:func:`bond_tag`, :func:`hub_tag`, :func:`region_of_tag`).
"""

from __future__ import annotations

BOND = "bond"
HUB = "hub"
TAB = "tab"
EYELET = "eyelet"

CLAMP = "clamp"
LOAD_PORT = "load_port"
OUTPUT_PORT = "output_port"

#: first tag of each cell-region kind; index i of that kind has tag ``offset + i``
REGION_TAG_OFFSET = {BOND: 1, HUB: 1_000_001, TAB: 2_000_001, EYELET: 3_000_001}
#: the largest index a kind can hold before tags of two kinds would collide
MAX_INDEX = 999_999
#: facet groups, in precedence order (a facet goes to the first group that claims it)
FACET_TAGS = {CLAMP: 1, LOAD_PORT: 2, OUTPUT_PORT: 3}


def region_name(kind: str, index: int) -> str:
    """``region_name("bond", 7) == "bond_7"``."""
    if kind not in REGION_TAG_OFFSET:
        raise ValueError(f"unknown region kind {kind!r}; expected one of {sorted(REGION_TAG_OFFSET)}")
    return f"{kind}_{int(index)}"


def region_tag(kind: str, index: int) -> int:
    """Integer physical tag of region ``kind`` number ``index`` (``REGION_TAG_OFFSET[kind] + index``)."""
    if kind not in REGION_TAG_OFFSET:
        raise ValueError(f"unknown region kind {kind!r}; expected one of {sorted(REGION_TAG_OFFSET)}")
    if not 0 <= int(index) <= MAX_INDEX:
        raise ValueError(f"{kind} index {index} outside 0..{MAX_INDEX}")
    return REGION_TAG_OFFSET[kind] + int(index)


def bond_name(i: int) -> str:
    return region_name(BOND, i)


def hub_name(j: int) -> str:
    return region_name(HUB, j)


def bond_tag(i: int) -> int:
    """Cell tag of bond ``i``: ``1 + i``."""
    return region_tag(BOND, i)


def hub_tag(j: int) -> int:
    """Cell tag of the hub of node ``j``: ``1_000_001 + j``."""
    return region_tag(HUB, j)


def region_of_tag(tag: int) -> tuple[str, int]:
    """Inverse of :func:`region_tag`: ``region_of_tag(1_000_004) == ("hub", 3)``."""
    tag = int(tag)
    for kind, off in sorted(REGION_TAG_OFFSET.items(), key=lambda kv: -kv[1]):
        if off <= tag <= off + MAX_INDEX:
            return kind, tag - off
    raise ValueError(f"{tag} is not a femnn region tag")


def parse_name(name: str) -> tuple[str, int]:
    """``parse_name("hub_3") == ("hub", 3)``; raises ValueError for facet-group or unknown names."""
    kind, _, idx = name.rpartition("_")
    if kind not in REGION_TAG_OFFSET or not idx.isdigit():
        raise ValueError(f"{name!r} is not a region name like 'bond_7' or 'hub_3'")
    return kind, int(idx)
