"""Shared fixtures for weft's black-box tests: they start the real binary."""
import os
import pathlib
import shutil
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def weft_bin():
    path = os.environ.get("WEFT_BIN", str(ROOT / "build" / "weft"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"weft binary not found at {path}: run 'make' first")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # lets fixtures know, at teardown, whether the test itself failed
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def node_ok():
    """The proxyless test peers need node and @grpc/grpc-js-xds (make deps)."""
    from mesh import NODE
    if shutil.which(NODE) is None:
        pytest.fail("node not found: run 'make deps'")
    if not (ROOT / "node_modules" / "@grpc" / "grpc-js-xds").is_dir():
        pytest.fail("node_modules/@grpc/grpc-js-xds missing: run 'make deps'")
    return True


@pytest.fixture
def mesh(request, weft_bin, node_ok):
    """A Mesh (tests/e2e/mesh.py) in a fresh temporary directory; every process
    it started is stopped and the directory removed, whatever the outcome.
    When the test fails, every process's log is printed."""
    from mesh import Mesh
    root = tempfile.mkdtemp(prefix="weft-e2e-")
    m = Mesh(weft_bin, root)
    try:
        yield m
    finally:
        reports = []
        try:
            m.close()
            rep = getattr(request.node, "rep_call", None)
            if rep is None or rep.failed:
                print(m.dump_logs())
            reports = m.sanitizer_reports()
        finally:
            shutil.rmtree(root, ignore_errors=True)
        assert not reports, "sanitizer reports:\n" + "\n\n".join(reports)


# ---------------------------------------------------------------------------
# The two-node cluster (tests/e2e/cluster.py): one per test module that asks
# for it. A module may set CLUSTER_OPTS = {"cert_ttl": "60s", "agents": False}.
@pytest.fixture(scope="module")
def cluster(request, weft_bin):
    from cluster import Cluster, unique_prefix
    if os.geteuid() != 0:
        pytest.skip("the cluster needs root (network namespaces, cgroups)")
    opts = getattr(request.module, "CLUSTER_OPTS", {})
    root = tempfile.mkdtemp(prefix="weft-cluster-")
    c = Cluster(weft_bin, unique_prefix("t"), os.path.join(root, "state"), **opts)
    failed_before = request.session.testsfailed
    ebpf = c.capture_mode == "ebpf"
    nft_after = []
    try:
        c.up()
        if ebpf:
            # issue 4: eBPF capture needs no nftables rule of ours anywhere
            tables = c.weft_nft_tables()
            assert not tables, f"eBPF capture, yet weft's nftables tables exist: {tables}"
        yield c
    finally:
        if ebpf and c.s:
            nft_after = c.weft_nft_tables()
        if request.session.testsfailed != failed_before:
            print(c.dump_logs())
        # SIGTERM first and wait, so that leak reports reach the logs
        c.stop_gracefully()
        reports = c.sanitizer_reports()
        r = c.down()
        left = c.leftovers()
        shutil.rmtree(root, ignore_errors=True)
        assert not reports, "sanitizer reports:\n" + "\n\n".join(reports)
        assert r.returncode == 0, f"weft demo down failed: {r.stdout}{r.stderr}"
        assert not left, f"left behind after weft demo down: {left}"
        assert not nft_after, f"eBPF capture, yet weft's nftables tables appeared: {nft_after}"
