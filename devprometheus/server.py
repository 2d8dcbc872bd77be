"""Build TSDB blocks once (cached by content) and serve a copy of them on loopback."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Debian puts both binaries on PATH; PROMETHEUS_BIN / PROMTOOL_BIN point elsewhere.
PROMETHEUS_BIN = os.environ.get("PROMETHEUS_BIN", "prometheus")
PROMTOOL_BIN = os.environ.get("PROMTOOL_BIN", "promtool")
# A block may span the whole fixture: 8 days in one block instead of 96 two-hour ones.
MAX_BLOCK_DURATION = "240h"
# Nothing is scraped: the data is what the blocks hold.
EMPTY_CONFIG = "global:\n  evaluation_interval: 1h\nscrape_configs: []\n"


class PrometheusNotInstalled(RuntimeError):
    pass


def prometheus_available() -> bool:
    return bool(shutil.which(PROMETHEUS_BIN) and shutil.which(PROMTOOL_BIN))


def _require() -> None:
    if not prometheus_available():
        raise PrometheusNotInstalled(
            "prometheus and promtool are not on PATH: `make prometheus` installs Debian's "
            "`prometheus` package"
        )


def blocks_build(openmetrics: str, *, cache_dir: Path) -> Path:
    """TSDB blocks for this OpenMetrics text, built once per distinct text and kept."""
    _require()
    digest = hashlib.sha256(openmetrics.encode()).hexdigest()[:20]
    blocks = cache_dir / digest
    if (blocks / ".complete").exists():
        return blocks
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{digest}-", dir=cache_dir))
    source = work / "metrics.om"
    source.write_text(openmetrics)
    output = work / "blocks"
    result = subprocess.run(  # noqa: S603 (our own arguments)
        [
            PROMTOOL_BIN,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            f"--max-block-duration={MAX_BLOCK_DURATION}",
            str(source),
            str(output),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"promtool failed: {result.stderr.strip()[-2000:]}")
    source.unlink()
    (output / ".complete").touch()
    try:
        output.rename(blocks)
    except OSError:  # another process built the same blocks meanwhile
        shutil.rmtree(work, ignore_errors=True)
        return blocks
    shutil.rmtree(work, ignore_errors=True)
    return blocks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningPrometheus:
    url: str
    process: subprocess.Popen
    data_dir: Path
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def prometheus_start(
    blocks: Path, *, workdir: Path | None = None, retention: str = "3650d", port: int = 0
) -> RunningPrometheus:
    """Serve a copy of `blocks` on 127.0.0.1 (never all interfaces); wait until it is ready."""
    _require()
    data_dir = Path(tempfile.mkdtemp(prefix="prometheus-", dir=workdir))
    shutil.copytree(blocks, data_dir / "data", ignore=shutil.ignore_patterns(".complete"))
    config = data_dir / "prometheus.yml"
    config.write_text(EMPTY_CONFIG)
    port = port or _free_port()
    log_path = data_dir / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own arguments)
            [
                PROMETHEUS_BIN,
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir / 'data'}",
                f"--storage.tsdb.retention.time={retention}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningPrometheus(
        url=f"http://127.0.0.1:{port}", process=process, data_dir=data_dir, log_path=log_path
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")[-2000:]
            shutil.rmtree(data_dir, ignore_errors=True)
            raise RuntimeError(f"prometheus exited with {process.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"{running.url}/-/ready", timeout=1) as answer:  # noqa: S310
                if answer.status == 200:
                    return running
        except OSError:
            pass
        time.sleep(0.1)
    running.stop()
    raise RuntimeError("prometheus did not become ready within 60 s")
