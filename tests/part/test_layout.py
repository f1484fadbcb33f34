"""The hub-radius / neck rule, the exact areas and the refusals of femnn.part.layout (numpy only)."""

import math

import numpy as np
import pytest

from femnn.errors import InputError
from femnn.network import Network, load_network, make_network
from femnn.part import tags
from femnn.part.layout import (
    bond_cone,
    circular_segment_area,
    default_clearance,
    default_hub_radius,
    default_neck_length,
    make_layout,
    smallest_angles,
)

MM = 1e-3


def test_default_rule_on_the_paper_network():
    """Paper lattice: theta_min = 60 deg, w_U = 2.5 mm, c = w_U/8. The rule gives
    R = (w_U/4 + c/2) / sin(30 deg) = 1.5625 mm and l = max(0.6 w_U, (w/2 + c/2)/tan(30 deg) - R - w/2) = 1.5 mm."""
    net = load_network("paper")
    assert np.allclose(smallest_angles(net), math.pi / 3)
    c = default_clearance(net)
    assert c == pytest.approx(2.5 * MM / 8)
    R = default_hub_radius(net)
    assert R == pytest.approx((2.5 * MM / 4 + c / 2) / math.sin(math.pi / 6))
    assert R == pytest.approx(1.5625 * MM)
    assert default_neck_length(net, R) == pytest.approx(1.5 * MM)
    lay = make_layout(net)
    assert (lay.hub_radius_m, lay.neck_length_m) == (pytest.approx(R), pytest.approx(1.5 * MM))


@pytest.mark.parametrize("kind,params", [("triangular", {"rows": 4}), ("square-diagonal", {"nx": 3, "ny": 2})])
def test_default_rule_holds_for_every_width_up_to_the_bound(kind, params):
    """With the default R and l, neighbouring necks never touch for any widths in [w_L, w_U]: the
    cones beta(w) = max(asin(w/4R), atan((w/2)/(R + l + w/2))) of two upper-bound bonds at the
    smallest angle are disjoint, 2 beta(w_U) < theta_min, and the exact check passes for all-w_U,
    all-w_L and random widths; the notch at the rim stays open (gap > 0)."""
    net = make_network(kind, **params)
    R = default_hub_radius(net)
    ell = default_neck_length(net, R)
    wL, wU = net.width_bounds_m
    assert 2 * bond_cone(wU, R, ell) < smallest_angles(net).min()
    rng = np.random.default_rng(0)
    for w in (np.full(net.n_bonds, wU), np.full(net.n_bonds, wL), rng.uniform(wL, wU, net.n_bonds)):
        lay = make_layout(net.with_widths(w))
        assert lay.min_gap_m > 0
    if kind == "square-diagonal":  # 45 deg between a side and a diagonal: a larger hub than the paper's
        assert smallest_angles(net).min() == pytest.approx(math.pi / 4)
        assert R == pytest.approx((wU / 4 + default_clearance(net) / 2) / math.sin(math.pi / 8))


def test_the_issue_example_needs_more_than_1_25_mm():
    """At 60 deg, two 2.5 mm bonds have 1.25 mm necks: their edges meet the rim at angles
    asin(0.625/R) from each axis, so they touch when R = 0.625 mm / sin(30 deg) = 1.25 mm; a
    1.25 mm hub is refused, naming the node, both bonds and the radius that would work."""
    net = load_network("paper").with_widths(np.full(28, 2.5 * MM))
    with pytest.raises(InputError) as exc:
        make_layout(net, hub_radius_m=1.25 * MM, neck_length_m=1.5 * MM)
    msg = str(exc.value)
    assert "node 0" in msg and "bond 0 (2.5 mm)" in msg and "bond 1 (2.5 mm)" in msg and "overlap" in msg
    assert "larger than 1.25 mm" in msg
    make_layout(net, hub_radius_m=1.27 * MM, neck_length_m=1.5 * MM)  # just above: accepted


def test_exact_area_of_a_single_bond():
    """Two hubs and one bond of width w, length L: the bond outside the hubs is
    w (L - 2 s2) + 2 * (3/4 w)(w/2) [tapers] + 2 * (w/2)(s1 - s_rim) [necks] - 2 seg(w/4, R),
    s_rim = sqrt(R^2 - w^2/16), s1 = R + l, s2 = s1 + w/2, seg(h, R) = R^2 asin(h/R) - h sqrt(R^2 - h^2);
    the part adds two disks pi R^2."""
    L, w, R, ell = 16 * MM, 2 * MM, 1.6 * MM, 1.5 * MM
    net = Network([[0, 0], [L, 0]], [[0, 1]], [0], [w], [1.5 * MM, 2.5 * MM], 2 * MM, name="one")
    lay = make_layout(net, hub_radius_m=R, neck_length_m=ell)
    s_rim = math.sqrt(R * R - w * w / 16)
    s1, s2 = R + ell, R + ell + w / 2
    bond = w * (L - 2 * s2) + 2 * 0.75 * w * (w / 2) + 2 * (w / 2) * (s1 - s_rim) - 2 * circular_segment_area(w / 4, R)
    assert lay.area_m2 == pytest.approx(2 * math.pi * R * R + bond, rel=1e-12)
    assert lay.region_area_m2[2] == pytest.approx(bond, rel=1e-12)
    assert np.allclose(lay.bbox_m, [[-R, -R], [L + R, R]])
    assert lay.min_neck_width_m == pytest.approx(w / 2)


def test_refusals_name_the_place():
    """A bond too short for its hubs and necks (L <= 2 (R + l + w/2)), a node without bonds and
    two crossing bonds are refused with an InputError naming the bond or node."""
    short = Network([[0, 0], [6 * MM, 0]], [[0, 1]], [0], [2 * MM], [1.5 * MM, 2.5 * MM], 2 * MM)
    with pytest.raises(InputError, match=r"bonds\[0\].*too short"):
        make_layout(short)
    lonely = Network([[0, 0], [16 * MM, 0], [0, 40 * MM]], [[0, 1]], [0], [2 * MM], [1.5 * MM, 2.5 * MM], 2 * MM)
    with pytest.raises(InputError, match="node 2.*no bonds"):
        make_layout(lonely)
    cross = Network([[0, 0], [20 * MM, 20 * MM], [20 * MM, 0], [0, 20 * MM]], [[0, 1], [2, 3]], [0],
                    [2 * MM, 2 * MM], [1.5 * MM, 2.5 * MM], 2 * MM)
    with pytest.raises(InputError, match="bond 0.*overlaps bond 1"):
        make_layout(cross)


def test_tags_are_disjoint_and_invertible():
    """bond i -> 1 + i, hub j -> 1_000_001 + j: the ranges never meet and region_of_tag inverts them."""
    assert tags.bond_tag(0) == 1 and tags.hub_tag(0) == 1_000_001 and tags.hub_tag(3) == 1_000_004
    for kind in (tags.BOND, tags.HUB, tags.TAB, tags.EYELET):
        for i in (0, 7, tags.MAX_INDEX):
            assert tags.region_of_tag(tags.region_tag(kind, i)) == (kind, i)
            assert tags.parse_name(tags.region_name(kind, i)) == (kind, i)
    assert tags.bond_tag(tags.MAX_INDEX) < tags.hub_tag(0)
    with pytest.raises(ValueError):
        tags.bond_tag(tags.MAX_INDEX + 1)
    assert len(set(tags.FACET_TAGS.values())) == len(tags.FACET_TAGS)
