"""Zero modes are detected and reported (which nodes move), never solved through."""

import numpy as np
import pytest

from femnn.bars import BarModel
from femnn.errors import MechanismError
from femnn.network import load_network, make_network


def test_pruned_node_hangs():
    """Removing bonds 12-13 and 11-13 leaves node 13 on one bar (10-13): one zero mode, node 13."""
    net = load_network("paper")
    dam = net.without_bonds([net.bond_index(12, 13), net.bond_index(11, 13)])
    with pytest.raises(MechanismError) as err:
        BarModel(dam)
    assert err.value.n_modes == 1 and err.value.free_nodes == [13]


def test_one_bond_removed_stays_rigid():
    """Removing bond 12-13 alone keeps the paper network rigid (node 13 still has bonds 10-13, 11-13)."""
    net = load_network("paper")
    BarModel(net.without_bonds([net.bond_index(12, 13)])).solve(np.zeros((14, 2)))


@pytest.mark.parametrize("backend", ["splu", "pardiso"])
def test_large_network_sparse_path(backend):
    """On a 40-row lattice (1,720 free DOFs: the sparse path, no SVD) a hanging corner node is found
    at the first factorisation."""
    net = make_network("triangular", rows=40)
    last = net.n_nodes - 1
    nb = np.flatnonzero((net.bonds == last).any(axis=1))
    dam = net.without_bonds(nb[:-1])
    bm = BarModel(dam, backend=backend)
    with pytest.raises(MechanismError) as err:
        bm.solve(np.zeros((net.n_nodes, 2)))
    assert last in err.value.free_nodes and len(err.value.free_nodes) == 1


def test_cli_reports_mechanism(tmp_path, femnn_cli):
    """`femnn train --remove-bond` on a bond whose removal frees a node: exit 2, one line naming the node."""
    net = load_network("paper")
    r = femnn_cli("train", "fig1", "--out", tmp_path / "o", "--remove-bond", net.bond_index(0, 5), "--epochs", "2")
    assert r.returncode == 2
    assert "mechanism" in r.stderr and "nodes that move freely" in r.stderr
