"""Confinement: each session's agent runs as its own user, in its own namespaces.

A run's commands, and the Codex process that runs them, must reach their own
workspace and nothing else: no platform credential, no other run's files, no
internal service. Codex's own sandbox limits writes and network, not reads,
so the executor confines the whole session around it (see
:mod:`executor.confinement.box`):

- a user of its own from ``CCPLANE_SESSION_UID_RANGE`` (:mod:`.uids`), owning
  the session's directories (mode 0700) and nothing else;
- its own network namespace whose only endpoint is the session's model proxy
  (:mod:`.netns`);
- its own PID and mount namespaces: ``/proc`` shows the session's processes
  only, and ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are private;
- resource limits: a cgroup with a process and memory ceiling
  (:mod:`.cgroups`), and rlimits on processes, open files and file size.

:class:`Confiner` is the executor's side: it checks at start that all this is
available (:mod:`.settings` says what to do when it is not) and makes one
:class:`SessionBox` per session.
"""

from executor.confinement.box import Confiner, SessionBox
from executor.confinement.settings import ConfinementSettings, Isolation, ResourceLimits

__all__ = ["ConfinementSettings", "Confiner", "Isolation", "ResourceLimits", "SessionBox"]
