"""R2: buckets on moto's in-process S3 backend, persisted, plus an S3-compatible endpoint.

Roles (docs/architecture.md, "The binding kit"): ``config`` (``[[r2_buckets]]``),
``plugin`` (store, bucket objects, S3 endpoint lifecycle), ``store`` (the engine: the only
module that imports moto; an on-disk index per bucket under ``<state>/r2/<bucket>/``, read
on demand: docs/r2.md),
``binding`` (``R2Bucket`` and the objects apps see), ``errors``, ``s3`` (path-style S3 API
for boto3 / ``aws s3``), ``routes`` (``/_emulator/r2``), ``cli`` (``cf-emulator r2``),
``panel.js``.
"""
