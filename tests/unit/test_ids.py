"""Record ids: unique, time-ordered, and never repeated by a forked process (the random
bytes are read from the operating system in chunks, which a child must not share)."""

from __future__ import annotations

import os
import re
import threading

from postback.storage.rows import new_id

SHAPE = re.compile(r"dlv_[0-9a-f]{12}[0-9a-f]{12}")


def test_ids_have_their_shape_and_do_not_repeat() -> None:
    ids = [new_id("dlv") for _ in range(20_000)]  # several 4 KiB chunks of random bytes
    assert all(SHAPE.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda i: i[4:16])  # the time part never goes back


def test_threads_never_get_the_same_bytes() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id("dlv")[16:] for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(f,)) for f in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [r for f in found for r in f]
    assert len(set(every)) == len(every)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_id("dlv")  # the parent holds a chunk of random bytes, most of it unused
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's coverage is not collected
        os.write(write, " ".join(new_id("dlv")[16:] for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        theirs = set(pipe.read().split())
    ours = {new_id("dlv")[16:] for _ in range(50)}
    assert len(theirs) == 50
    assert not ours & theirs
