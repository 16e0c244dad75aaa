"""`seqray serve`: embeddings over HTTP with Ray Serve (`POST /embed`, `GET /health`).

`requests.py` checks a request (no Ray), `app.py` is the deployment (a model per replica,
`serve.batch` batching), `service.py` starts Ray and Serve and stops them. Ray Serve is
the `seqray[serve]` extra: nothing here is imported by the rest of seqray.
"""
