"""The HTTP front of the double: routing, discovery, content negotiation, hooks, faults."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import errors, openapi
from .errors import ApiError
from .faults import Fault, FaultPlan
from .registry import Registry
from .resources import ResourceType
from .state import (
    PATCH_APPLY,
    PATCH_JSON,
    PATCH_MERGE,
    PATCH_STRATEGIC,
    SEED_MANAGER,
    ClusterState,
    Result,
    WriteOptions,
)
from .tables import as_table

HOOK_PREFIX = "/_devcluster"
KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-devcluster",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class RecordedRequest:
    """A request as the server received it, for tests that check "the request as sent"."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    received_at: float = field(default_factory=time.time)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        if not self.body:
            return None
        if self.content_type.startswith(PATCH_APPLY):
            return yaml.load(self.body, Loader=_YAML_LOADER)  # noqa: S506 - safe loader
        return json.loads(self.body)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "content_type": self.content_type,
            "body": self.body.decode("utf-8", "replace"),
        }


@dataclass
class Route:
    resource: ResourceType | None = None
    version: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str = ""
    discovery: Any = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that exits while its kept-alive connection idles (kubectl does) resets
        # it; kube-apiserver says nothing about that, and neither does the double.
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


class DevClusterServer:
    """The API server: a ClusterState behind a ThreadingHTTPServer on loopback."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        crd_files: list[Path] | None = None,
        token: str | None = None,
        history_limit: int = 20000,
        request_log_limit: int = 10000,
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("devcluster listens on loopback only")
        self.crd_files = crd_files
        self.registry = Registry(crd_files)
        self.state = ClusterState(self.registry, history_limit=history_limit)
        self.token = token
        self.faults = FaultPlan()
        self.request_log: deque[RecordedRequest] = deque(maxlen=request_log_limit)
        handler = type("BoundHandler", (_Handler,), {"api": self})
        self.httpd = _Server((host, port), handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> DevClusterServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.close()
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self, crd_files: list[Path] | None = None) -> None:
        """Back to a fresh cluster; `crd_files` swaps the CRDs until the next reset."""
        wanted = Registry.files_for(crd_files if crd_files is not None else self.crd_files)
        if wanted != self.registry.crd_files:
            self.registry = Registry(wanted)
        self.state.reset(self.registry)
        self.faults.clear()
        self.request_log.clear()


def _wants_table(accept: str) -> bool:
    """kubectl get asks for `application/json;as=Table;v=v1;g=meta.k8s.io`."""
    return "as=Table" in accept.replace(" ", "")


class _Handler(BaseHTTPRequestHandler):
    api: DevClusterServer
    protocol_version = "HTTP/1.1"
    server_version = "devcluster"
    # Keep-alive responses otherwise wait ~40 ms for the client's delayed ACK (Nagle).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # -- plumbing -----------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send_json(
        self, code: int, body: Any, headers: dict[str, str] | None = None, warnings: list[str] = ()
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        for warning in warnings:
            self.send_header("Warning", f"299 - {json.dumps(warning)}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_error(self, error: ApiError) -> None:
        self._send_json(error.code, error.status(), error.headers)

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        body = self._read_body()
        try:
            if self.api.token and self.headers.get("Authorization") != f"Bearer {self.api.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if path == HOOK_PREFIX or path.startswith(HOOK_PREFIX + "/"):
                self._hook(path[len(HOOK_PREFIX) :], query, body)
                return
            self.api.request_log.append(
                RecordedRequest(
                    self.command,
                    path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
            self._serve(path, query, body)
        except ApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # the double answers every failure with a Status
            self._send_error(
                ApiError(500, "InternalError", f"Internal error occurred: {error!r}", {})
            )

    # -- routing --------------------------------------------------------------------------

    def _route(self, path: str) -> Route:
        parts = [p for p in path.split("/") if p]
        registry = self.api.registry
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
            if not registry.in_group_version(group, version):
                raise errors.path_not_found()
        else:
            raise errors.path_not_found()
        if not rest:
            return Route(version=version, discovery=(group, version))
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = registry.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        resource = registry.lookup(group, version, rest[0])
        if resource is None or len(rest) > 3:
            raise errors.path_not_found()
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) == 3 else ""
        if subresource and not (
            subresource == "status" and (resource.status_subresource or resource.builtin)
        ):
            raise errors.path_not_found()
        if resource.namespaced and namespace is None and name is not None:
            raise errors.path_not_found()
        return Route(resource, version, namespace, name, subresource)

    def _serve(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        if path in ("/healthz", "/livez", "/readyz"):
            payload = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if path == "/version":
            self._send_json(200, KUBE_VERSION)
            return
        if path == "/openapi/v3":
            self._send_json(200, openapi.root_document(self.api.registry))
            return
        if path.startswith("/openapi/v3/"):
            document = openapi.group_version_document(
                self.api.registry, path[len("/openapi/v3/") :]
            )
            if document is None:
                raise errors.path_not_found()
            self._send_json(200, document)
            return
        if path == "/api":
            self._send_json(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.api.port}"}
                    ],
                },
            )
            return
        if path == "/apis":
            self._send_json(200, self._group_list())
            return
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "apis":
            group = self._group(parts[1])
            if group is None:
                raise errors.path_not_found()
            self._send_json(200, group)
            return
        route = self._route(path)
        if route.discovery is not None:
            if self.command != "GET":
                raise errors.method_not_allowed(self.command)
            self._send_json(200, self._resource_list(*route.discovery))
            return
        self._resource_request(route, query, body)

    # -- discovery ------------------------------------------------------------------------

    def _group(self, name: str) -> dict[str, Any] | None:
        versions = self.api.registry.groups().get(name)
        if not versions:
            return None
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _group_list(self) -> dict[str, Any]:
        groups = []
        for name in self.api.registry.groups():
            group = self._group(name)
            group.pop("kind")
            group.pop("apiVersion")
            groups.append(group)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources = []
        for resource in self.api.registry.in_group_version(group, version):
            entry: dict[str, Any] = {
                "name": resource.plural,
                "singularName": resource.singular,
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": list(resource.verbs),
            }
            if resource.short_names:
                entry["shortNames"] = list(resource.short_names)
            if resource.categories:
                entry["categories"] = list(resource.categories)
            resources.append(entry)
            if resource.status_subresource or resource.builtin:
                resources.append(
                    {
                        "name": f"{resource.plural}/status",
                        "singularName": "",
                        "namespaced": resource.namespaced,
                        "kind": resource.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    # -- resources ------------------------------------------------------------------------

    def _write_options(self, query: dict[str, list[str]]) -> WriteOptions:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        dry_run_values = query.get("dryRun") or []
        for value in dry_run_values:
            if value != "All":
                raise errors.bad_request(f'Invalid dry run value: "{value}"')
        validation = one("fieldValidation") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(
                f"fieldValidation parameter unsupported: {validation}. Please use one of "
                "Ignore, Warn, or Strict"
            )
        force_text = (one("force") or "").lower()
        return WriteOptions(
            dry_run=bool(dry_run_values),
            field_manager=one("fieldManager") or "",
            field_validation=validation,
            force=force_text in ("true", "1"),
        )

    def _default_manager(self, options: WriteOptions) -> str:
        if options.field_manager:
            return options.field_manager
        agent = self.headers.get("User-Agent") or "unknown"
        return agent.split("/")[0][:128]

    def _parse_body(self, body: bytes, content_type: str) -> Any:
        media = content_type.split(";")[0].strip()
        if media == "application/vnd.kubernetes.protobuf":
            raise errors.unsupported_media_type(media, ["application/json", "application/yaml"])
        if not body:
            return None
        try:
            if media in (PATCH_APPLY, "application/yaml"):
                return yaml.load(body, Loader=_YAML_LOADER)  # noqa: S506 - safe loader
            return json.loads(body)
        except (ValueError, yaml.YAMLError) as error:
            raise errors.bad_request(f"error decoding request body: {error}") from error

    def _verb(self, route: Route, query: dict[str, list[str]]) -> str:
        method = self.command
        if method in ("GET", "HEAD"):
            if route.name:
                return "get"
            watch = (query.get("watch") or [""])[-1].lower()
            return "watch" if watch in ("true", "1") else "list"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            media = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            return "apply" if media == PATCH_APPLY else "patch"
        if method == "DELETE":
            return "delete" if route.name else "deletecollection"
        raise errors.method_not_allowed(method)

    def _inject(self, route: Route, verb: str) -> bool:
        """Apply a pending fault; True when the request is finished (error sent or dropped)."""
        resource = route.resource
        fault = self.api.faults.take(
            verb, resource.plural, resource.group, route.namespace, route.name
        )
        if fault is None:
            return False
        if fault.action == "slow":
            time.sleep(fault.delay or 1.0)
            return False
        if fault.action == "drop":
            if fault.delay:
                time.sleep(fault.delay)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        plain_verb = "patch" if verb == "apply" else verb
        raise fault.error(plain_verb, resource.plural, resource.group, route.namespace)

    def _resource_request(self, route: Route, query: dict[str, list[str]], body: bytes) -> None:
        verb = self._verb(route, query)
        resource = route.resource
        if verb not in resource.verbs and verb != "apply":
            raise errors.method_not_allowed(self.command)
        if route.name is None and verb in ("update", "patch", "apply"):
            raise errors.method_not_allowed(self.command)
        if route.name is not None and verb == "create":
            raise errors.method_not_allowed(self.command)
        if self._inject(route, verb):
            return
        state = self.api.state
        table = _wants_table(self.headers.get("Accept") or "")
        namespace = route.namespace or ""
        if verb == "get":
            obj = state.get(resource, route.version, namespace, route.name)
            if table and not route.subresource:
                include = (query.get("includeObject") or ["Metadata"])[-1]
                list_metadata = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                obj = as_table(resource, route.version, [obj], list_metadata, include)
            self._send_json(200, obj)
            return
        if verb == "list":
            self._list(route, query, table)
            return
        if verb == "watch":
            self._watch(route, query)
            return
        content_type = self.headers.get("Content-Type") or "application/json"
        if verb == "delete":
            options = self._write_options(query)
            delete_options = self._parse_body(body, content_type) or {}
            if not isinstance(delete_options, dict):
                raise errors.bad_request("the body of a delete must be a DeleteOptions object")
            dry_run = options.dry_run or bool(delete_options.get("dryRun"))
            preconditions = delete_options.get("preconditions") or {}
            result = state.delete(
                resource,
                route.version,
                namespace,
                route.name,
                {"preconditions": preconditions},
                dry_run=dry_run,
            )
            self._send_result(result)
            return
        if verb == "deletecollection":
            self._delete_collection(route, query)
            return
        options = self._write_options(query)
        parsed = self._parse_body(body, content_type)
        if verb == "create":
            result = state.create(
                resource,
                route.version,
                namespace,
                parsed,
                options,
                manager=self._default_manager(options),
            )
        elif verb == "update":
            result = state.update(
                resource,
                route.version,
                namespace,
                route.name,
                parsed,
                options,
                manager=self._default_manager(options),
                subresource=route.subresource,
            )
        else:
            media = content_type.split(";")[0].strip()
            if media not in (PATCH_APPLY, PATCH_JSON, PATCH_MERGE, PATCH_STRATEGIC):
                raise errors.unsupported_media_type(
                    media,
                    [PATCH_JSON, PATCH_MERGE, PATCH_APPLY]
                    + ([PATCH_STRATEGIC] if resource.builtin else []),
                )
            if options.force and media != PATCH_APPLY:
                raise errors.invalid(
                    "PatchOptions",
                    "meta.k8s.io",
                    "",
                    [
                        errors.cause(
                            "FieldValueForbidden",
                            "force",
                            "Forbidden: may not be specified for non-apply patch",
                        )
                    ],
                )
            if parsed is None:
                raise errors.bad_request("the body of the request was empty")
            result = state.patch(
                resource,
                route.version,
                namespace,
                route.name,
                media,
                parsed,
                options,
                manager=self._default_manager(options),
                subresource=route.subresource,
            )
        self._send_result(result)

    def _send_result(self, result: Result) -> None:
        self._send_json(result.code, result.body, warnings=result.warnings)

    def _list(self, route: Route, query: dict[str, list[str]], table: bool) -> None:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        limit_text = one("limit") or "0"
        try:
            limit = max(0, int(limit_text))
        except ValueError:
            raise errors.bad_request(f'invalid limit "{limit_text}"') from None
        resource = route.resource
        listed = self.api.state.list(
            resource,
            route.version,
            route.namespace,
            label_selector=one("labelSelector"),
            field_selector=one("fieldSelector"),
            limit=limit,
            continue_token=one("continue"),
            strip_type_meta=not table,
        )
        if table:
            include = one("includeObject") or "Metadata"
            items = listed["items"]
            self._send_json(
                200, as_table(resource, route.version, items, listed["metadata"], include)
            )
            return
        self._send_json(200, listed)

    def _delete_collection(self, route: Route, query: dict[str, list[str]]) -> None:
        state = self.api.state
        options = self._write_options(query)
        listed = state.list(
            route.resource,
            route.version,
            route.namespace,
            label_selector=(query.get("labelSelector") or [None])[-1],
            field_selector=(query.get("fieldSelector") or [None])[-1],
            strip_type_meta=False,
        )
        deleted = []
        for item in listed["items"]:
            metadata = item["metadata"]
            try:
                result = state.delete(
                    route.resource,
                    route.version,
                    metadata.get("namespace", ""),
                    metadata["name"],
                    None,
                    dry_run=options.dry_run,
                )
            except ApiError as error:
                if error.code == 404:
                    continue
                raise
            if result.body.get("kind") != "Status":
                deleted.append(result.body)
            else:
                deleted.append(item)
        listed["items"] = deleted
        self._send_json(200, listed)

    def _watch(self, route: Route, query: dict[str, list[str]]) -> None:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        timeout_text = one("timeoutSeconds")
        try:
            timeout = float(timeout_text) if timeout_text else 1800.0
        except ValueError:
            raise errors.bad_request(f'invalid timeoutSeconds "{timeout_text}"') from None
        events = self.api.state.watch(
            route.resource,
            route.version,
            route.namespace,
            resource_version=one("resourceVersion"),
            label_selector=one("labelSelector"),
            field_selector=one("fieldSelector"),
            timeout_seconds=timeout,
            stopped=self._client_gone,
            bookmarks=(one("allowWatchBookmarks") or "").lower() in ("true", "1"),
        )
        table = _wants_table(self.headers.get("Accept") or "")
        include = one("includeObject") or "Metadata"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        try:
            columns_sent = False
            for event in events:
                if table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    obj = event["object"]
                    rendered = as_table(
                        route.resource,
                        route.version,
                        [obj],
                        {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                        include,
                    )
                    # Like kube-apiserver, only the first event carries the column definitions.
                    if columns_sent:
                        rendered["columnDefinitions"] = []
                    columns_sent = True
                    event = {"type": event["type"], "object": rendered}
                self._chunk(event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            events.close()

    def _chunk(self, event: dict[str, Any]) -> None:
        payload = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    # -- test hooks -----------------------------------------------------------------------

    def _hook(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        try:
            self._run_hook(path, query, json.loads(body) if body else None)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            # A malformed hook call is the caller's mistake: say so instead of a 500.
            raise errors.bad_request(f"bad devcluster hook request: {error}") from error

    def _run_hook(self, path: str, query: dict[str, list[str]], payload: Any) -> None:
        api = self.api
        if path == "/reset" and self.command == "POST":
            api.reset()
            self._send_json(200, {"reset": True})
        elif path == "/seed" and self.command == "POST":
            if isinstance(payload, list):
                payload = {"objects": payload}
            stored = api.state.seed(
                payload.get("objects") or [],
                validate=payload.get("validate", True),
                create_namespaces=payload.get("createNamespaces", True),
                manager=payload.get("manager") or SEED_MANAGER,
                operation=payload.get("operation") or "Update",
                time=payload.get("time"),
            )
            self._send_json(200, {"seeded": len(stored)})
        elif path == "/state" and self.command == "GET":
            resource = None
            plural = (query.get("resource") or [None])[-1]
            if plural:
                resource = next(
                    (r for r in api.registry.resources if plural in (r.plural, r.qualified_plural)),
                    None,
                )
                if resource is None:
                    raise errors.bad_request(f"unknown resource {plural!r}")
            namespace = (query.get("namespace") or [None])[-1]
            self._send_json(
                200,
                {
                    "resourceVersion": str(api.state.resource_version),
                    "objects": api.state.objects(resource, namespace),
                },
            )
        elif path == "/faults" and self.command == "POST":
            rules = payload if isinstance(payload, list) else [payload]
            for rule in rules:
                api.faults.add(Fault(**rule))
            self._send_json(200, {"pending": len(api.faults.pending())})
        elif path == "/faults" and self.command == "DELETE":
            api.faults.clear()
            self._send_json(200, {"pending": 0})
        elif path == "/requests" and self.command == "GET":
            self._send_json(200, {"requests": [r.as_dict() for r in api.request_log]})
        elif path == "/compact" and self.command == "POST":
            api.state.compact()
            self._send_json(200, {"compacted": api.state.resource_version})
        else:
            raise errors.path_not_found()
