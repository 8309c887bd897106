"""The one list of RQ queue names, by purpose: settings, tasks, rqworker and the checks all read it.

Nothing else in the code base spells a queue name: an API that enqueues to one
name while its worker listens on another leaves jobs queued forever. The API, the
workers and the scheduler all derive their queues from this module, and
`jobs.checks` fails at startup when `RQ_QUEUES` disagrees with it.

Two purposes, so a long model job never holds back time-critical work: an RQ
worker runs one job at a time, and a regeneration over a large account takes
minutes to an hour.

* SYSTEM: short, time-critical work (the reminder sweep and delivery, the
  stuck-job reconciler). Its worker never imports torch.
* SEMANTIC: interactive model work (auto-embeds of just-written notes). Its
  worker loads the embedding model once.
* SEMANTIC_BULK: bulk model work (regeneration slices), same purpose and
  workers. Listed after SEMANTIC, so a semantic worker (RQ's default dequeue
  takes the first non-empty queue in the order it listens) always takes a
  user's new notes before the next slice of anyone's regeneration; each slice
  re-enqueues the next at the back of this queue, so regenerations of several
  users alternate.

Names are `<prefix>-<purpose>` (`SCRIBES_QUEUE_PREFIX`, default "scribes"), so two
deployments can share one Redis with different prefixes; `SCRIBES_QUEUE_SYSTEM`
`SCRIBES_QUEUE_SEMANTIC` and `SCRIBES_QUEUE_SEMANTIC_BULK` override one name outright.
"""

import os


def _name(purpose: str, prefix: str) -> str:
    return os.environ.get(f"SCRIBES_QUEUE_{purpose.upper()}", "").strip() or f"{prefix}-{purpose.replace('_', '-')}"


#: Prefix of every project queue name (`SCRIBES_QUEUE_PREFIX`; the older `SCRIBES_QUEUE` is read as the prefix).
PREFIX = (os.environ.get("SCRIBES_QUEUE_PREFIX", "") or os.environ.get("SCRIBES_QUEUE", "")).strip() or "scribes"

#: Short, time-critical system work: reminder sweep and delivery, reconciler.
SYSTEM = _name("system", PREFIX)
#: Interactive model work: auto-embeds of just-written notes (the worker that loads the model).
SEMANTIC = _name("semantic", PREFIX)
#: Bulk model work: regeneration slices; served by the same workers, after SEMANTIC.
SEMANTIC_BULK = _name("semantic_bulk", PREFIX)

#: Purpose → the queues a worker of that purpose listens on (`rqworker --purpose`).
#: Within a purpose, the order is the priority: interactive before bulk.
PURPOSES: dict[str, tuple[str, ...]] = {"system": (SYSTEM,), "semantic": (SEMANTIC, SEMANTIC_BULK)}

#: All project queues, critical first: the order a one-process worker polls them.
ALL: tuple[str, ...] = (SYSTEM, SEMANTIC, SEMANTIC_BULK)
