"""API keys with scopes (hashed at rest, constant-time checked) and TLS, on a live server."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from parity import FeatureStore
from parity.cli.main import app as cli
from parity.serve.auth import generate_api_key, hash_api_key
from parity.serve.config import Scope

READ, PUSH, ADMIN = generate_api_key(), generate_api_key(), generate_api_key()
PUSH_BODY = {
    "push_source_name": "txn_push",
    "rows": [
        {
            "user_id": 5,
            "last_amount": 1.0,
            "txn_count": 1,
            "event_timestamp": "2026-01-01T00:00:00Z",
        }
    ],
    "to": "online",
}
FEATURES = {"feature_service": "live", "entity_rows": [{"user_id": 1}]}


@pytest.fixture(scope="module")
def secured(store: FeatureStore) -> Any:
    from .conftest import serve

    keys = [
        {"name": "ranker", "hash": hash_api_key(READ), "scopes": ["read"]},
        {"name": "ingest", "hash": hash_api_key(PUSH), "scopes": ["push"]},
        {"name": "ops", "hash": hash_api_key(ADMIN), "scopes": ["admin"]},
    ]
    with serve(store, api_keys=keys) as live:
        yield live


def call(server: Any, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
    headers = {} if key is None else {"authorization": f"Bearer {key}"}
    return httpx.request(method, f"{server.url}{path}", headers=headers, **kw)


def test_missing_or_unknown_key_is_401_with_the_fix(secured: Any) -> None:
    missing = call(secured, "POST", "/get-online-features", json=FEATURES)
    assert missing.status_code == 401
    assert "Missing API key" in missing.json()["error"]["message"]
    wrong = call(secured, "POST", "/get-online-features", "pk_not-a-key", json=FEATURES)
    assert wrong.status_code == 401
    assert "Unknown API key" in wrong.json()["error"]["message"]


def test_scopes_decide_what_a_key_may_call(secured: Any) -> None:
    assert call(secured, "POST", "/get-online-features", READ, json=FEATURES).status_code == 200
    assert call(secured, "GET", "/registry/views", READ).status_code == 200
    denied = call(secured, "POST", "/push", READ, json=PUSH_BODY)
    assert denied.status_code == 403
    assert (
        "'ranker' may not call /push: it needs the 'push' scope"
        in denied.json()["error"]["message"]
    )
    assert call(secured, "POST", "/push", PUSH, json=PUSH_BODY).status_code == 200
    assert call(secured, "POST", "/get-online-features", PUSH, json=FEATURES).status_code == 403
    assert call(secured, "GET", "/metrics", READ).status_code == 403
    # admin implies every scope
    assert call(secured, "GET", "/metrics", ADMIN).status_code == 200
    assert call(secured, "POST", "/get-online-features", ADMIN, json=FEATURES).status_code == 200


def test_x_api_key_header_and_open_probes(secured: Any) -> None:
    reply = httpx.post(
        f"{secured.url}/get-online-features", json=FEATURES, headers={"x-api-key": READ}
    )
    assert reply.status_code == 200
    assert httpx.get(f"{secured.url}/health").status_code == 200
    assert httpx.get(f"{secured.url}/ready").status_code == 200


def test_config_refuses_plaintext_keys() -> None:
    from pydantic import ValidationError

    from parity.serve.config import ServerConfig

    with pytest.raises(ValidationError, match="never put a plaintext key"):
        ServerConfig.model_validate({"api_keys": [{"name": "x", "hash": READ}]})


def test_hash_key_cli_prints_a_key_and_its_config_entry() -> None:
    result = CliRunner().invoke(cli, ["serve", "hash-key", "--name", "ci", "--scope", "push"])
    assert result.exit_code == 0, result.output
    key = next(
        line.split(": ", 1)[1] for line in result.output.splitlines() if "shown once" in line
    )
    assert f"hash: '{hash_api_key(key)}', scopes: [push]" in result.output
    assert key not in result.output.split("shown once", 1)[1].split("\n", 1)[1]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_serves_https_with_the_given_certificate(store: FeatureStore, tmp_path: Path) -> None:
    from parity.client import Client
    from parity.serve.app import create_app
    from parity.serve.config import ServerConfig

    from .conftest import LiveServer

    cert, key = _self_signed(tmp_path)
    app = create_app(store, config=ServerConfig(request_log={"enabled": False}))
    with LiveServer(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as live:
        assert live.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(f"{live.url}/health", verify=context).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{live.url}/health")  # not trusted without the certificate
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{live.port}/health")  # no plaintext on the TLS port
        with Client(live.url, verify=str(cert)) as client:
            vectors = client.get_online_features(
                feature_service="live", entity_rows=[{"user_id": 1}]
            )
        assert vectors.feature_names == ("last_amount", "txn_count")


def test_api_keys_can_come_from_the_environment(store: FeatureStore) -> None:
    from parity.config import load_config

    digest = hash_api_key(READ)
    environ = {"PARITY__SERVER__API_KEYS": f"[{{name: env-key, hash: '{digest}', scopes: [read]}}]"}
    config = load_config(store.repo_path, environ=environ).server
    assert [(k.name, k.hash, k.scopes) for k in config.api_keys] == [
        ("env-key", digest, (Scope.READ,))
    ]
