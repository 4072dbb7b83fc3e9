"""PostgreSQL infrastructure shared by the control plane and the executor-manager:
engine and sessions (:mod:`.engine`), the schema (:mod:`.models`), migrations
(:mod:`.migrate`) and the embedded server used when no URL is configured
(:mod:`.embedded`)."""
