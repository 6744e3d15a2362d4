"""Scale-out over Redis Streams: the daemon hands batches of stored items to ``lookout worker`` processes (CPU or
GPU), which encode and classify them and send the results back; the daemon commits them as it commits a local
batch. Without ``[workers] redis_url`` none of this runs (one process, no Redis). Only ``settings`` is imported by
the rest of Lookout unconditionally; the modules that need the ``redis`` package import it themselves."""
