"""A local S3 server (moto) for tests, so s3:// code runs against real HTTP, not mocks.

Use it from a test module with ``from tests.s3_server import s3_server, s3_bucket_url``
(conftest.py is shared; keeping this a plain module lets any test opt in).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Variables that could point boto elsewhere or at real credentials: cleared for the session.
_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Start moto on a free loopback port; yields its endpoint URL, set as AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name in _CLEARED:
                mp.delenv(name, raising=False)
            for name, value in _CREDENTIALS.items():
                mp.setenv(name, value)
            mp.setenv("AWS_ENDPOINT_URL", endpoint)
            yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_bucket_url(s3_server: str) -> str:
    """A fresh, empty bucket for one test: ``s3://<bucket>/prefix``."""
    import boto3

    bucket = f"shipyard-test-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    client.close()
    return f"s3://{bucket}/prefix"
