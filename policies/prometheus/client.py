"""A small Prometheus HTTP API client on httpx: instant queries, explicitly timed.

Why our own: prometheus-api-client drops `warnings` and `errorType`, and a verdict built on
a partial answer would be a lie. Every query passes `time=` (a refresh reads one moment for
every query, and tests read fixtures from the past), and Prometheus' own `timeout=` beside
the client's, so a slow query is cancelled on the server too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import orjson

from policies.prometheus.errors import (
    BadQuery,
    BadResponse,
    PartialData,
    PrometheusError,
    Refused,
    ServerError,
    Timeout,
    Unreachable,
)


@dataclass(frozen=True)
class PrometheusSettings:
    url: str
    bearer_token: str = ""
    username: str = ""
    password: str = ""
    ca_file: str = ""
    timeout_seconds: float = 20.0
    #: An answer larger than this is refused rather than read into memory.
    max_response_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class QueryResult:
    samples: list[Sample]
    at: datetime
    warnings: tuple[str, ...] = field(default=())


class PrometheusClient:
    """Instant queries against one Prometheus; build it once per refresh, close it after."""

    def __init__(self, config: PrometheusSettings) -> None:
        self.config = config
        headers = {"Accept": "application/json"}
        if config.bearer_token:
            headers["Authorization"] = f"Bearer {config.bearer_token}"
        auth = httpx.BasicAuth(config.username, config.password) if config.username else None
        self._http = httpx.Client(
            base_url=config.url.rstrip("/"),
            headers=headers,
            auth=auth,
            verify=config.ca_file or True,
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def query(
        self, promql: str, *, at: datetime, timeout_seconds: float | None = None
    ) -> QueryResult:
        """Run one instant query at `at`; raise a PrometheusError unless the answer is whole."""
        timeout = timeout_seconds or self.config.timeout_seconds
        form = {"query": promql, "time": f"{at.timestamp():.3f}", "timeout": f"{timeout:g}s"}
        body, status, content_type = self._post("/api/v1/query", form, timeout)
        document = _json_document(body, status, content_type, self.config.url)
        if status in (401, 403):
            raise Refused(
                f"HTTP {status} from {self.config.url}"
                + (f": {document.get('error')}" if isinstance(document, dict) else ""),
                status=status,
            )
        if not isinstance(document, dict) or "status" not in document:
            raise BadResponse(
                f"HTTP {status} from {self.config.url} without Prometheus' status field",
                status=status,
            )
        if document["status"] != "success":
            raise _api_error(document, status)
        warnings = tuple(str(w) for w in document.get("warnings") or ())
        samples = _samples(document.get("data"), status)
        if warnings:
            raise PartialData("; ".join(warnings), status=status)
        return QueryResult(samples=samples, at=at, warnings=warnings)

    def _post(self, path: str, form: dict, timeout: float) -> tuple[bytes, int, str]:
        try:
            with self._http.stream(
                "POST", path, data=form, timeout=httpx.Timeout(timeout)
            ) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.config.max_response_bytes:
                        raise BadResponse(
                            f"the answer is larger than "
                            f"{self.config.max_response_bytes / (1024 * 1024):.2g} MB; meshui "
                            "refuses to read it (raise MESHUI_PROMETHEUS_MAX_MB if it is right)",
                            status=response.status_code,
                        )
                    chunks.append(chunk)
                return (
                    b"".join(chunks),
                    response.status_code,
                    response.headers.get("content-type", ""),
                )
        except httpx.TimeoutException as error:
            raise Timeout(f"no answer from {self.config.url} within {timeout:g} s") from error
        except httpx.TransportError as error:
            raise Unreachable(f"{self.config.url}: {error or type(error).__name__}") from error


def _json_document(body: bytes, status: int, content_type: str, url: str):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if status in (401, 403):
            return None
        kind = content_type.split(";")[0].strip() or "no content type"
        if status >= 500:
            raise ServerError(f"HTTP {status} from {url} ({kind})", status=status) from error
        raise BadResponse(
            f"HTTP {status} from {url} answered {kind}, not Prometheus' JSON "
            "(is the URL Prometheus itself, not a login page or a proxy?)",
            status=status,
        ) from error


def _api_error(document: dict, status: int) -> PrometheusError:
    error_type = str(document.get("errorType") or "")
    message = str(document.get("error") or f"HTTP {status}")
    if error_type == "timeout":
        return Timeout(message, status=status, error_type=error_type)
    if error_type == "bad_data":
        return BadQuery(message, status=status, error_type=error_type)
    if status in (401, 403):
        return Refused(message, status=status, error_type=error_type)
    return ServerError(f"{error_type or 'error'}: {message}", status=status, error_type=error_type)


def _samples(data, status: int) -> list[Sample]:
    if not isinstance(data, dict) or data.get("resultType") not in ("vector", "scalar"):
        raise BadResponse(
            "the answer holds no instant vector "
            f"(resultType {data.get('resultType') if isinstance(data, dict) else None!r})",
            status=status,
        )
    if data["resultType"] == "scalar":
        return [Sample(labels={}, value=_number(data["result"][1]))]
    samples = []
    for item in data.get("result") or ():
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            value = _number(item["value"][1])
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as error:
            raise BadResponse(f"a sample Prometheus sent is malformed: {item!r:.120}") from error
        if not math.isnan(value):
            samples.append(Sample(labels=labels, value=value))
    return samples


def _number(raw) -> float:
    return float(raw)


def prometheus_client_from_settings(django_settings) -> PrometheusClient | None:
    """The client the settings ask for, or None when MESHUI_PROMETHEUS_URL is unset."""
    if not django_settings.MESHUI_PROMETHEUS_URL:
        return None
    return PrometheusClient(
        PrometheusSettings(
            url=django_settings.MESHUI_PROMETHEUS_URL,
            bearer_token=django_settings.MESHUI_PROMETHEUS_BEARER_TOKEN,
            username=django_settings.MESHUI_PROMETHEUS_USERNAME,
            password=django_settings.MESHUI_PROMETHEUS_PASSWORD,
            ca_file=django_settings.MESHUI_PROMETHEUS_CA_FILE,
            timeout_seconds=float(django_settings.MESHUI_PROMETHEUS_TIMEOUT_SECONDS),
            max_response_bytes=django_settings.MESHUI_PROMETHEUS_MAX_MB * 1024 * 1024,
        )
    )
