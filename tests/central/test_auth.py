"""Edge keys: hashed lookup and the one-site rule."""

import pytest

from central.auth import EdgeAuthenticator, MissingKey, NotAuthorized, UnknownKey, key_sha256
from central.registry import Edge


def test_keys_map_to_their_edge_and_site() -> None:
    edges = [Edge("e1", "s1", key_sha256("k1")), Edge("e2", "s2", key_sha256("k2"))]
    auth = EdgeAuthenticator(edges)
    assert auth.authenticate("k2") == edges[1]
    with pytest.raises(MissingKey):
        auth.authenticate(None)
    with pytest.raises(MissingKey):
        auth.authenticate("")
    with pytest.raises(UnknownKey):
        auth.authenticate(key_sha256("k1"))  # the hash itself is not a key
    auth.authorize(edges[0], "s1")
    with pytest.raises(NotAuthorized, match="edge 'e1' may write only site 's1'"):
        auth.authorize(edges[0], "s2")
