"""One filesystem layer for every location: local paths, ``file://`` and ``s3://`` URIs.

Parquet goes through pyarrow's filesystems (:class:`pyarrow.fs.S3FileSystem` for
``s3://``), Delta through deltalake's own object store with the ``storage_options`` built
here, and DuckDB scans the Arrow datasets opened here, so no DuckDB extension is ever
downloaded. Nothing else in parity builds a filesystem or storage options.

Errors from the endpoint become one clear parity error naming the setting to fix:
:class:`~parity.errors.StorageUnavailable` (endpoint unreachable),
:class:`~parity.errors.StorageAccessDenied` (credentials),
:class:`~parity.errors.StorageBucketNotFound` (bucket).

Example:
    >>> storage = ObjectStorage()
    >>> storage.is_remote("s3://lake/offline"), storage.is_remote("/data/offline")
    (True, False)
    >>> storage.delta_options("/data/offline") is None
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from parity.errors import (
    SchemaMismatch,
    StorageAccessDenied,
    StorageBucketNotFound,
    StorageUnavailable,
)
from parity.storage.config import S3Config

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

__all__ = ["ObjectStorage", "is_remote", "join_location"]

_S3 = "s3://"
_FILE = "file://"


def is_remote(location: str) -> bool:
    """True for an object-storage URI (``s3://``), False for a local path or ``file://``.

    Example:
        >>> is_remote("s3://lake/t"), is_remote("file:///tmp/t")
        (True, False)
    """
    return location.startswith(_S3)


def join_location(root: str, *parts: str) -> str:
    """``root`` with ``parts`` appended, ``/``-separated, for paths and URIs alike.

    Example:
        >>> join_location("s3://lake/offline/", "quarantine", "spend")
        's3://lake/offline/quarantine/spend'
    """
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def _bucket(location: str) -> str:
    return location[len(_S3) :].split("/", 1)[0]


@dataclass(frozen=True)
class ObjectStorage:
    """The connection settings for object storage, turned into what each library takes.

    Built once (from ``storage:`` in ``parity.yaml``, the AWS variables filling what it
    leaves out) and passed to whoever reads or writes a location. The repr never shows a
    secret.

    Example:
        >>> storage = ObjectStorage(S3Config(region="eu-west-1", access_key_id="k",
        ...                                  secret_access_key="s"))
        >>> "s" in repr(storage.s3.secret_access_key)
        False
        >>> storage.delta_options("s3://lake/t")["AWS_REGION"]
        'eu-west-1'
    """

    s3: S3Config = field(default_factory=S3Config)

    @classmethod
    def from_config(cls, s3: S3Config | None = None) -> ObjectStorage:
        """The storage of ``s3`` with unset fields from the AWS environment variables.

        Example:
            >>> ObjectStorage.from_config().s3.concurrent_writes
            'conditional_put'
        """
        return cls((s3 or S3Config()).resolved())

    is_remote = staticmethod(is_remote)

    def local_path(self, location: str) -> str:
        """A local location as a plain path (``file://`` stripped).

        Example:
            >>> ObjectStorage().local_path("file:///tmp/x")
            '/tmp/x'
        """
        return location[len(_FILE) :] if location.startswith(_FILE) else location

    def delta_options(self, location: str) -> dict[str, str] | None:
        """deltalake's ``storage_options`` for ``location`` (None for local tables).

        Example:
            >>> opts = ObjectStorage(S3Config(endpoint_url="http://127.0.0.1:9000")
            ...                      ).delta_options("s3://b/t")
            >>> opts["AWS_ALLOW_HTTP"], opts["aws_conditional_put"]
            ('true', 'etag')
        """
        if not is_remote(location):
            return None
        s3 = self.s3
        options: dict[str, str] = {
            "AWS_REGION": s3.region or "us-east-1",
            "timeout": f"{int(s3.timeout_seconds)}s",
            "connect_timeout": f"{int(s3.timeout_seconds)}s",
        }
        if s3.endpoint_url:
            options["AWS_ENDPOINT_URL"] = s3.endpoint_url
        if s3.allow_http:
            options["AWS_ALLOW_HTTP"] = "true"
        for name, key in (
            ("access_key_id", "AWS_ACCESS_KEY_ID"),
            ("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("session_token", "AWS_SESSION_TOKEN"),
        ):
            secret = getattr(s3, name)
            if secret is not None:
                options[key] = secret.get_secret_value()
        if s3.concurrent_writes == "conditional_put":
            options["aws_conditional_put"] = "etag"
        elif s3.concurrent_writes == "dynamodb":
            options["AWS_S3_LOCKING_PROVIDER"] = "dynamodb"
            options["DELTA_DYNAMO_TABLE_NAME"] = s3.dynamodb_table
        else:
            options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
        return options

    @cached_property
    def _s3_filesystem(self) -> pafs.FileSystem:
        import pyarrow.fs as pafs

        s3 = self.s3
        endpoint = s3.endpoint_url
        scheme = "https"
        if endpoint and "://" in endpoint:
            scheme, endpoint = endpoint.split("://", 1)
        secret = s3.secret_access_key
        return pafs.S3FileSystem(
            access_key=None if s3.access_key_id is None else s3.access_key_id.get_secret_value(),
            secret_key=None if secret is None else secret.get_secret_value(),
            session_token=(
                None if s3.session_token is None else s3.session_token.get_secret_value()
            ),
            region=s3.region or "us-east-1",
            endpoint_override=endpoint,
            scheme=scheme,
            connect_timeout=s3.timeout_seconds,
            request_timeout=s3.timeout_seconds,
            # Small objects go up in one PUT instead of a multipart upload.
            allow_delayed_open=True,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2),
        )

    def filesystem(self, location: str) -> tuple[pafs.FileSystem, str]:
        """The pyarrow filesystem of ``location`` and the path inside it.

        Example:
            >>> fs, path = ObjectStorage().filesystem("file:///tmp/data")
            >>> type(fs).__name__, path
            ('LocalFileSystem', '/tmp/data')
        """
        if is_remote(location):
            return self._s3_filesystem, location[len(_S3) :].rstrip("/")
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem(), self.local_path(location)

    def parquet_files(self, location: str) -> tuple[tuple[str, int], ...]:
        """Every ``.parquet`` file at or under ``location`` (sorted), with its size.

        Remote files are returned as ``s3://`` URIs.

        Example:
            >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
            >>> d = tempfile.mkdtemp(); pq.write_table(pa.table({"a": [1]}), d + "/x.parquet")
            >>> [(f.rsplit("/", 1)[1], size > 0) for f, size in ObjectStorage().parquet_files(d)]
            [('x.parquet', True)]
        """
        import pyarrow.fs as pafs

        fs, path = self.filesystem(location)
        prefix = _S3 if is_remote(location) else ""
        with self.translate_errors(location, setting="source path"):
            info = fs.get_file_info(path)
            if info.type == pafs.FileType.File:
                return ((prefix + path, info.size or 0),)
            if info.type != pafs.FileType.Directory:
                if is_remote(location):
                    self.check_bucket(location)
                return ()
            found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
        files = sorted(
            (prefix + f.path, f.size or 0)
            for f in found
            if f.type == pafs.FileType.File and f.path.endswith(".parquet")
        )
        return tuple(files)

    def parquet_schema(self, location: str) -> pa.Schema:
        """The Arrow schema in one Parquet file's footer (its data is not read).

        Example:
            >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
            >>> f = tempfile.mkdtemp() + "/x.parquet"; pq.write_table(pa.table({"a": [1]}), f)
            >>> ObjectStorage().parquet_schema(f).names
            ['a']
        """
        import pyarrow.parquet as pq

        fs, path = self.filesystem(location)
        with self.translate_errors(location, setting="source path"):
            return pq.read_schema(path, filesystem=fs)

    def parquet_dataset(
        self, files: tuple[str, ...], *, schema: pa.Schema | None = None
    ) -> pads.Dataset:
        """An Arrow dataset over ``files`` (all local or all on one object store).

        Example:
            >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
            >>> f = tempfile.mkdtemp() + "/x.parquet"; pq.write_table(pa.table({"a": [1]}), f)
            >>> ObjectStorage().parquet_dataset((f,)).count_rows()
            1
        """
        import pyarrow.dataset as pads

        fs, _ = self.filesystem(files[0])
        paths = [self.filesystem(f)[1] for f in files]
        with self.translate_errors(files[0], setting="source path"):
            return pads.dataset(paths, filesystem=fs, format="parquet", schema=schema)

    def open_input(self, location: str) -> Any:
        """A binary input stream of one file (``with storage.open_input(uri) as f``).

        Example:
            >>> import pathlib, tempfile
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_text("hi")
            >>> with ObjectStorage().open_input(str(p)) as f: f.read()
            b'hi'
        """
        fs, path = self.filesystem(location)
        with self.translate_errors(location, setting="path"):
            return fs.open_input_stream(path)

    def check_bucket(self, location: str) -> None:
        """Raise one clear error if the bucket of ``location`` cannot be used.

        Example:
            >>> ObjectStorage().check_bucket("/local/path")  # nothing to check locally
        """
        if not is_remote(location):
            return
        import pyarrow.fs as pafs

        bucket = _bucket(location)
        with self.translate_errors(location, setting="bucket"):
            info = self._s3_filesystem.get_file_info(bucket)
        if info.type == pafs.FileType.NotFound:
            raise StorageBucketNotFound(
                f"Bucket {bucket!r} of {location!r} does not exist at endpoint "
                f"{self.s3.endpoint_url or 'AWS S3'}. Create it (aws s3 mb s3://{bucket}) or "
                "fix the location in parity.yaml / the feature definition."
            )

    @contextmanager
    def translate_errors(self, location: str, *, setting: str) -> Iterator[None]:
        """Turn an endpoint failure inside the block into one clear parity error.

        Example:
            >>> with ObjectStorage().translate_errors("/tmp", setting="path"):
            ...     pass
        """
        try:
            yield
        except (OSError, RuntimeError) as exc:
            raise self.explain(exc, location, setting=setting) from exc

    def explain(self, exc: BaseException, location: str, *, setting: str) -> Exception:
        """The parity error for a library error about ``location`` (or ``exc`` itself
        when it is not about reaching the store).

        Example:
            >>> type(ObjectStorage(S3Config(endpoint_url="http://127.0.0.1:1")).explain(
            ...     OSError("Connection refused"), "s3://b/t", setting="path")).__name__
            'StorageUnavailable'
        """
        if not is_remote(location):
            return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
        text = str(exc)
        lowered = text.lower()
        endpoint = self.s3.endpoint_url or "AWS S3"
        # Reaching the endpoint first: a refused connection says nothing of credentials.
        if any(marker in lowered for marker in _UNREACHABLE):
            return StorageUnavailable(
                f"Cannot reach object storage at {endpoint} for {location!r} "
                f"({_first_line(text)}). Check storage.s3.endpoint_url in parity.yaml "
                "(or AWS_ENDPOINT_URL) and that the server is up."
            )
        if any(marker in lowered for marker in _DENIED):
            return StorageAccessDenied(
                f"{endpoint} refused the credentials for {location!r} ({_first_line(text)}). "
                "Fix storage.s3.access_key_id / secret_access_key in parity.yaml, or "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."
            )
        if "nosuchbucket" in lowered or "bucket does not exist" in lowered:
            bucket = _bucket(location)
            return StorageBucketNotFound(
                f"Bucket {bucket!r} of {location!r} does not exist at {endpoint}. Create it "
                f"(aws s3 mb s3://{bucket}) or fix the location."
            )
        if isinstance(exc, FileNotFoundError):
            return SchemaMismatch(f"Nothing at {location!r}. Check the {setting}.")
        return exc if isinstance(exc, Exception) else RuntimeError(text)


# What pyarrow (AWS SDK) and deltalake (object_store) say when the endpoint cannot be reached
# or refuses the credentials; matched case-insensitively.
_UNREACHABLE = (
    "network_connection",
    "could not connect",
    "connection refused",
    "timed out",
    "could not resolve",
    "error sending request",
    "dns error",
)
_DENIED = (
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    "access denied",
    "access_denied",
    "accessdenied",
    "necessary privileges",
    "403 forbidden",
)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else text[:200]
