import pytest

from tests.faults.platform import Cluster


@pytest.fixture(scope="session")
def faults_cluster(tmp_path_factory):
    """One PostgreSQL cluster for every fault test of the run, migrated once (see Cluster)."""
    cluster = Cluster(tmp_path_factory.mktemp("faults-pg"))
    try:
        yield cluster
    finally:
        cluster.stop()
