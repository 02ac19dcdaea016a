"""The ingest benchmark's input: batches without end, each with event ids of its own."""

from __future__ import annotations

import itertools
import json

from benchmarks import ingest_bench


def test_batches_keep_coming_each_with_its_own_event_ids() -> None:
    supply = ingest_bench.bodies("partner-1", "t")
    batches = [json.loads(b) for b in itertools.islice(supply, 2500)]
    ids = [e["id"] for batch in batches for e in batch]
    assert len(batches) == 2500  # more than a full run posts at 60 batches a second
    assert all(len(batch) == ingest_bench.BATCH for batch in batches)
    assert len(set(ids)) == len(ids)
    action_ids = {e["data"]["ActionId"] for batch in batches for e in batch}
    assert len(action_ids) == len(ids)
    assert not any(ingest_bench.NUMBER in e["id"] for e in batches[-1])
    assert batches[7][3]["data"]["MediaPartnerId"] == "partner-1"
