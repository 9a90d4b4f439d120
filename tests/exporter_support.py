"""Helpers of the exporter tests: an exporter on a free loopback port in this process, a
scrape parsed with prometheus_client's own parser, test certificates made with openssl."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from cuadra_top.config import LoadedConfig, OrgConfig, Settings
from cuadra_top.exporter.exposition import RENDER_EVERY
from cuadra_top.listen import Listen
from cuadra_top.exporter.run import ExporterOptions, ExporterService
from cuadra_top.state.monitor import Monitor

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def org_config(sim, name: str) -> OrgConfig:
    return OrgConfig(name=name, api_url=sim.base_url, token=SecretStr(f"{name}-token"))


def loaded_for(sim, names: Iterable[str], **settings: object) -> LoadedConfig:
    return LoadedConfig(Settings(org=[org_config(sim, n) for n in names], **settings), None, "demo")  # type: ignore[arg-type]


def monitors(interval: float = 3600.0) -> Callable[[LoadedConfig], Monitor]:
    """Monitors that poll once at start, then only when told (``refresh``)."""
    return lambda loaded: Monitor(loaded.settings, None, None, interval=interval, judge_alerts=False)


def service_for(sim, names: Iterable[str], *, reload=None, web_config: Path | None = None,
                listen: Listen = Listen("127.0.0.1", 0), interval: float = 3600.0,
                render_every: float = RENDER_EVERY) -> ExporterService:
    return ExporterService(ExporterOptions(loaded_for(sim, names), listen, monitors(interval),
                                           web_config=web_config, reload=reload, render_every=render_every))


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def orgs_in(samples: Samples) -> set[str]:
    return {dict(labels).get("org") for _, labels in samples} - {None}  # type: ignore[arg-type]


async def scrape(service: ExporterService, **kw) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, **kw) as client:
        return await client.get(f"http://127.0.0.1:{service.port}/metrics")


async def samples_of(service: ExporterService) -> Samples:
    response = await scrape(service)
    assert response.status_code == 200, response.text
    return parse(response.text)


async def samples_once(service: ExporterService, condition: Callable[[Samples], bool]) -> Samples:
    """The first scrape whose samples meet ``condition``; it must come within the service's
    ``render_every`` (and a second for the test's own pace): a change reaches /metrics with the
    next render, never later."""
    deadline = time.monotonic() + service.options.render_every + 1.0
    while True:
        samples = await samples_of(service)
        if condition(samples):
            return samples
        assert time.monotonic() < deadline, "the change did not reach /metrics within render_every"
        await asyncio.sleep(0.02)


def openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make test certificates")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(where: Path) -> Path:
    """ca.pem/ca.key, server.pem/server.key (localhost, 127.0.0.1), client.pem/client.key
    (SAN DNS:prometheus.example), other.pem/other.key (SAN DNS:intruder.example), all from the CA."""
    where.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=cuadra test CA", cwd=where)
    for name, san in (("server", "DNS:localhost,IP:127.0.0.1"), ("client", "DNS:prometheus.example"),
                      ("other", "DNS:intruder.example")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=where)
        (where / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=where)
    return where
