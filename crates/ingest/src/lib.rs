//! EVTX ingest (being written).
