"""`python -m engine.api.probe`: the container healthcheck compose and the image use.

Healthy while the engine is ready or on its way (a retryable 503: loading, an atlas still to be
indexed, draining); unhealthy when it does not answer or a component failed for good. Real app on a
real socket; only the models are stand-ins.
"""

from __future__ import annotations

from engine.api.app import create_app
from engine.api.probe import healthy, main
from engine.runtime import EngineRuntime
from tests.e2e.processes import free_port
from tests.engine.pipelines.fakes import BagOfWordsClip, MemoryStore

from .helpers import fake_runtime, serving, settings_for


def test_a_ready_engine_is_healthy(tmp_path) -> None:
    with serving(create_app(fake_runtime(tmp_path))) as url:
        assert healthy(f"{url}/readyz") == (True, "status 200")
        assert main([f"{url}/readyz"]) == 0


def test_an_engine_waiting_for_its_atlas_is_healthy(tmp_path) -> None:
    runtime = EngineRuntime.from_components(settings_for(tmp_path, enable_llm=False, enable_diffusion=False),
                                            clip=BagOfWordsClip(), store=MemoryStore())
    with serving(create_app(runtime)) as url:
        ok, why = healthy(f"{url}/readyz")
    assert ok and why.startswith("status 503: not ready: search: the atlas holds no images"), why


def test_a_failed_component_or_no_answer_is_unhealthy(tmp_path, capsys) -> None:
    runtime = EngineRuntime.from_components(settings_for(tmp_path, enable_llm=False, enable_diffusion=False),
                                            clip=None, store=MemoryStore())
    with serving(create_app(runtime)) as url:
        ok, why = healthy(f"{url}/readyz")
    assert not ok and why.startswith("status 503: not ready: clip: failed"), why
    assert main([f"http://127.0.0.1:{free_port()}/readyz"]) == 1
    assert "unhealthy: no answer" in capsys.readouterr().err
