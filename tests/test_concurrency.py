"""Detectors in parallel: nothing held across models while one detects or loads.

Each test proves overlap rather than timing it: a model's forward pass (or load) waits inside
until another thread has got through its own work. Were a lock shared across models, the other
thread could never get there and the wait would time out. Wall times are the benchmarks' job
(`python -m benchmarks`, "parallel detection").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import adetailer.detectors as detectors
from adetailer.detectors import load_count, load_detector
from adetailer.registry import ModelRegistry

WAIT_S = 30


@pytest.fixture
def registry(yolo_models_dir: Path, fresh_detector_cache: None) -> ModelRegistry:
    return ModelRegistry(yolo_models_dir, allow_download=False)


def detector(registry: ModelRegistry, name: str) -> Any:
    return load_detector(registry.prepare(name), device="cpu")


@pytest.fixture
def hold_forward() -> Iterator[Callable[[Any], tuple[threading.Event, threading.Event]]]:
    """hold(detector) -> (inside, release): its next forward pass signals `inside`, then waits
    for `release` before it computes."""
    undo: list[Callable[[], None]] = []

    def hold(held: Any) -> tuple[threading.Event, threading.Event]:
        inside, release = threading.Event(), threading.Event()
        network = held.model.model
        original = network.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            inside.set()
            assert release.wait(WAIT_S), "nothing released the held forward pass"
            return original(*args, **kwargs)

        network.forward = forward
        undo.append(lambda: vars(network).pop("forward", None))
        return inside, release

    yield hold
    for step in undo:
        step()


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as error:
            results.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


def test_two_models_detect_at_the_same_time(
    registry: ModelRegistry, photos: dict[str, Image.Image], hold_forward: Any
) -> None:
    face = detector(registry, "face_test.pt")
    person = detector(registry, "person_test-seg.pt")
    image = photos["astronaut"]
    face.detect(image, confidence=0.01)  # the first call builds ultralytics' predictor
    person.detect(image, confidence=0.01)
    inside, release = hold_forward(face)

    thread, results = in_thread(lambda: face.detect(image, confidence=0.01))
    assert inside.wait(WAIT_S)
    found = person.detect(image, confidence=0.01)  # while the face model is mid-forward
    release.set()
    thread.join(WAIT_S)

    assert len(found.items) > 0
    assert len(results[0].items) > 0


def test_a_cached_detector_is_handed_out_while_another_loads(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = detector(registry, "face_test.pt")
    inside, release = threading.Event(), threading.Event()
    real_load = detectors._load

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert release.wait(WAIT_S)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(detectors, "_load", slow_load)
    thread, results = in_thread(lambda: detector(registry, "person_test-seg.pt"))
    assert inside.wait(WAIT_S)
    assert detector(registry, "face_test.pt") is cached
    release.set()
    thread.join(WAIT_S)
    assert results[0].name == "person_test-seg.pt"


def test_a_model_loads_while_another_detects(
    registry: ModelRegistry, photos: dict[str, Image.Image], hold_forward: Any
) -> None:
    face = detector(registry, "face_test.pt")
    face.detect(photos["astronaut"], confidence=0.01)
    inside, release = hold_forward(face)
    thread, _ = in_thread(lambda: face.detect(photos["astronaut"], confidence=0.01))
    assert inside.wait(WAIT_S)
    loaded = detector(registry, "person_test-seg.pt")
    release.set()
    thread.join(WAIT_S)
    assert loaded.name == "person_test-seg.pt"


@pytest.fixture
def waiter_arrived(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set when a thread starts waiting for another thread's load of the same model."""
    arrived = threading.Event()

    class SignallingEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            arrived.set()
            return super().wait(timeout)

    class Loading(detectors._Loading):
        def __init__(self, stamp: Any) -> None:
            super().__init__(stamp)
            self.done = SignallingEvent()

    monkeypatch.setattr(detectors, "_Loading", Loading)
    return arrived


def test_two_threads_asking_for_one_model_load_it_once(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, waiter_arrived: threading.Event
) -> None:
    real_load = detectors._load

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        assert waiter_arrived.wait(WAIT_S), "the second thread never waited for this load"
        return real_load(*args, **kwargs)

    monkeypatch.setattr(detectors, "_load", slow_load)
    before = load_count()
    threads = [in_thread(lambda: detector(registry, "face_test.pt")) for _ in range(2)]
    for thread, _ in threads:
        thread.join(WAIT_S)
    first, second = (results[0] for _, results in threads)
    assert first is second
    assert load_count() == before + 1


def test_a_failed_load_is_reported_to_every_waiting_thread(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, waiter_arrived: threading.Event
) -> None:
    def failing_load(*args: Any, **kwargs: Any) -> Any:
        assert waiter_arrived.wait(WAIT_S)
        raise detectors.DetectorError("cannot load it")

    monkeypatch.setattr(detectors, "_load", failing_load)
    first, first_result = in_thread(lambda: detector(registry, "face_test.pt"))
    second, second_result = in_thread(lambda: detector(registry, "face_test.pt"))
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert [str(r[0]) for r in (first_result, second_result)] == ["cannot load it"] * 2
    monkeypatch.undo()
    assert detector(registry, "face_test.pt").name == "face_test.pt"  # tried again next time
