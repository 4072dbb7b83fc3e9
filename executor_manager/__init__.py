"""The executor-manager: owns the executor fleet and its lifecycle.

It starts and supervises executors through a backend (:mod:`.backends`),
keeps a warm pool of them (:mod:`.pool`), tracks registrations, heartbeats
and capacity (:mod:`.registry`), leases slots to runs (:mod:`.leases`) and
tells watchers about lease changes (:mod:`.feed`). The control plane asks it
for an executor; it never runs agents itself.
"""
