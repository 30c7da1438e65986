"""Labels select what a run made; names tell people whose stack a container belongs to."""

from harness.stack.labels import PID_LABEL, RUN_LABEL, WORKER_LABEL, object_name, run_labels, worker_id


def test_names_say_run_worker_stack_and_service(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert worker_id() == "main"
    assert object_name("20261129T145339-4529", "a1b2c3", "postgres") == "dr-20261129T145339-4529-main-a1b2c3-postgres"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert object_name("r", "s", "toxiproxy") == "dr-r-gw1-s-toxiproxy"


def test_labels_carry_the_run_the_process_and_the_worker(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    labels = run_labels("run-1")
    assert labels[RUN_LABEL] == "run-1" and labels[WORKER_LABEL] == "gw3" and labels[PID_LABEL].isdigit()
