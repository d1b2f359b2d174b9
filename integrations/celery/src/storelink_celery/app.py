"""A ready-made Celery app with storelink's tasks: ``celery -A storelink_celery.app worker``.

Its broker and result backend come from the environment when it is imported:
``STORELINK_CELERY_BROKER`` (default ``redis://127.0.0.1:6379/0``),
``STORELINK_CELERY_RESULTS`` (default: the broker), ``STORELINK_CELERY_QUEUE`` (default
``storelink``) and ``STORELINK_CELERY_VISIBILITY``.
A host with a Celery app of its own imports :mod:`storelink_celery.tasks` instead (the
tasks are shared tasks) and applies :func:`celery_config` to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from celery import Celery

from storelink_celery import tasks
from storelink_celery.settings import DEFAULT_BROKER, redis_url, seconds

__all__ = ["app", "celery_config", "tasks"]


def celery_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the Celery settings storelink's tasks rely on, the broker's from *environ*.

    Late acknowledgement (a lost worker's task is delivered again), one message
    prefetched per process (a long sync does not hold back others queued behind it),
    JSON only, and Redis's visibility timeout with a sweep frequent enough for it.

    :param environ: The environment to read; the process's by default.
    :raises ConfigurationError: A variable is malformed.
    """
    env = os.environ if environ is None else environ
    broker = redis_url("STORELINK_CELERY_BROKER", env.get("STORELINK_CELERY_BROKER", "").strip() or DEFAULT_BROKER)
    results = redis_url("STORELINK_CELERY_RESULTS", env.get("STORELINK_CELERY_RESULTS", "").strip() or broker)
    visibility = seconds(env, "STORELINK_CELERY_VISIBILITY", 3600.0)
    queue = env.get("STORELINK_CELERY_QUEUE", "").strip() or "storelink"
    return {
        "broker_url": broker,
        "result_backend": results,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            # Look for the messages of lost workers often enough to honour a short timeout.
            "unacked_restore_interval": max(1, min(10, int(visibility // 5))),
            "unacked_restore_throttle": 1,
        },
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "task_default_queue": queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 86400,
        "worker_hijack_root_logger": False,
    }


app = Celery("storelink")
app.conf.update(celery_config())
