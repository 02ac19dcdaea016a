"""Pure checks on what users give us: postbacks at save, events at ingest, addresses."""
