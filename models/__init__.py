"""Machine learning for Lookout: embeddings, classifiers and online topics.

Nothing here knows about Slack, SQLite or asyncio: every function takes and returns plain Python and numpy values.
"""
