"""A long-running command once started (dialer.process.started): what it
made before is out of the garbage collector's full passes, what it makes
afterwards is not."""

from __future__ import annotations

import gc

import pytest

from dialer.process import started


class Made:
    """A tracked object (an instance with a __dict__)."""


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_what_was_made_before_the_start_is_left_out_of_full_collections(unfrozen):
    before = Made()
    started()
    after = Made()
    walked = {id(o) for o in gc.get_objects()}
    assert id(before) not in walked and id(after) in walked
    assert gc.get_freeze_count() > 1000  # the imports: the test's, pytest's
