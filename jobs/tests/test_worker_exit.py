"""A worker's exit never waits out the sleep of RQ's command listener (the redis-py bound in requirements.txt).

RQ 3.0 listens for stop-job and shutdown commands on a pub/sub thread that
sleeps up to 60 s between messages once it is unsubscribed, and its teardown
unsubscribes, stops that thread and joins it for at most a second. redis-py 8.2
made `PubSubWorkerThread.stop()` itself wait for the thread without a bound, so
a worker whose listener had already handled the UNSUBSCRIBE reply hung for a
minute at every exit: each burst run, each warm shutdown (SIGTERM).
"""

import threading
import time

import pytest

from common import queues
from jobs.tests.utils import wait_for
from jobs.worker import ScribesWorker

pytestmark = pytest.mark.django_db


def test_a_worker_tears_its_command_listener_down_without_waiting_for_its_sleep(redis_conn):
    worker = ScribesWorker([queues.SYSTEM], connection=redis_conn)
    worker.subscribe()
    # The race, made certain: the listener handles the UNSUBSCRIBE reply and goes
    # back to sleep before the teardown stops it.
    worker.pubsub.unsubscribe()
    wait_for(lambda: not worker.pubsub.subscribed, timeout=10, what="the listener to see its UNSUBSCRIBE")
    time.sleep(0.3)

    done = threading.Event()
    threading.Thread(target=lambda: (worker.unsubscribe(), done.set()), daemon=True).start()
    # RQ's own bound is one second; a hang is the listener's 60 s sleep.
    assert done.wait(15), "the worker's teardown waited for its command listener's 60 s sleep"
