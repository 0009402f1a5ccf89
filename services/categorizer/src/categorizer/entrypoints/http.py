"""categorizer's FastAPI app: the shared probes and /metrics, plus this service's own routes."""

from collections.abc import Mapping

from bankstream_common.http import create_http_app
from bankstream_common.readiness import ReadinessCheck
from fastapi import FastAPI

from ..config import Settings
from ..metrics import Metrics


def create_app(settings: Settings, metrics: Metrics, readiness: Mapping[str, ReadinessCheck]) -> FastAPI:
    return create_http_app(
        service=settings.service_name,
        settings=settings,
        registry=metrics.registry,
        http_metrics=metrics.http,
        readiness=readiness,
    )
