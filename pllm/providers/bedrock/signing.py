"""AWS credentials, found as LiteLLM finds them, and SigV4 signing of each Bedrock request.

Credentials: ``aws_access_key_id``, ``aws_secret_access_key`` and ``aws_session_token`` in
``litellm_params``, else ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_SESSION_TOKEN``. Region: ``aws_region_name``, else ``AWS_REGION_NAME``, ``AWS_REGION``,
``AWS_DEFAULT_REGION``, else ``us-west-2`` (LiteLLM's default).

Signing is botocore's ``SigV4Auth`` (service ``bedrock``), imported when the first Bedrock
deployment is configured, so that a gateway without one never loads botocore. A signature
covers the method, the path (AWS signs a non-S3 path encoded once more: the ``%3A`` of a model
id is signed as ``%253A``), the headers (``host``, ``content-type``, ``x-amz-date``,
``x-amz-security-token`` with a session token) and the body's SHA-256, so it is made for each
request, where the body is known: see :class:`SignedTargets`. The secret never leaves the
signer: not in a repr, a log line or an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pllm_accel
from pllm.providers.codec import Endpoint, Outgoing

DEFAULT_REGION = "us-west-2"
SERVICE = "bedrock"
REGION_ENVS = ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def _string(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) and value else None


def find_credentials(params: Mapping[str, Any], env: Mapping[str, str]) -> AwsCredentials | str:
    """The deployment's credentials, or what is missing (a sentence naming the settings)."""
    key = _string(params, "aws_access_key_id")
    secret = _string(params, "aws_secret_access_key")
    token = _string(params, "aws_session_token")
    if key is None and secret is None:
        key, secret = env.get("AWS_ACCESS_KEY_ID") or None, env.get("AWS_SECRET_ACCESS_KEY") or None
        token = token or env.get("AWS_SESSION_TOKEN") or None
    if key is None or secret is None:
        return (
            "no AWS credentials: set aws_access_key_id and aws_secret_access_key "
            "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    return AwsCredentials(key, secret, token)


def find_region(params: Mapping[str, Any], env: Mapping[str, str]) -> str:
    return _string(params, "aws_region_name") or next(
        (env[name] for name in REGION_ENVS if env.get(name)), DEFAULT_REGION
    )


class Signer:
    """SigV4 signatures of one set of credentials for one region (service ``bedrock``)."""

    __slots__ = ("_auth", "_request")

    def __init__(self, credentials: AwsCredentials, region: str) -> None:
        # Imported here, by the first Bedrock deployment: nothing else needs botocore.
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        c = credentials
        creds = Credentials(c.access_key_id, c.secret_access_key, c.session_token)
        self._auth = SigV4Auth(creds, SERVICE, region)
        self._request = AWSRequest

    def __repr__(self) -> str:
        return "Signer(...)"

    def sign(self, url: str, body: bytes, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The headers of a signed ``POST`` of ``body`` to ``url``: ``headers`` (all signed)
        and ``x-amz-date``, ``authorization`` (and ``x-amz-security-token``)."""
        request = self._request(method="POST", url=url, data=body, headers=dict(headers))
        self._auth.add_auth(request)
        return [(str(k).lower(), str(v)) for k, v in request.headers.items()]


class SignedTargets:
    """The ``resolve`` hook of a Bedrock deployment's :class:`HttpTarget`: each request's
    native target, at its endpoint's URL (a stream's own), with its signature."""

    __slots__ = ("_headers", "_signer", "_stream_urls", "_urls")

    def __init__(
        self,
        urls: Mapping[Endpoint, str],
        stream_urls: Mapping[Endpoint, str],
        headers: list[tuple[str, str]],
        signer: Signer,
    ) -> None:
        self._urls = urls
        self._stream_urls = stream_urls
        self._headers = headers
        self._signer = signer

    def url(self, out: Outgoing) -> str:
        if out.stream:
            url = self._stream_urls.get(out.endpoint)
            if url is not None:
                return url
        return self._urls[out.endpoint]

    async def __call__(self, out: Outgoing) -> pllm_accel.Target:
        url = self.url(out)
        return pllm_accel.Target("POST", url, self._signer.sign(url, out.body, self._headers))
