"""On a Citus cluster, each push goes to the node that holds its tenant's shards.

Through the coordinator, every statement of a push is planned there and sent on to a worker,
and every COPY row is parsed there before the worker parses it again; and a transaction that
copied rows into a distributed table commits in two phases. Citus lets any node with its metadata
run the same statements (its "query from any node"): entered at the node that holds the shards,
they run there as on a plain database. `engine_for` gives the engine of that node for a tenant,
the coordinator's where there is nothing to gain: a plain database, a tenant held by the
coordinator, a node without Citus's metadata, `PUSHAPI_CITUS_ROUTE_PUSHES=off`, or a lookup that
failed.

Which node holds a tenant is asked of the coordinator and kept for PLACEMENT_SECONDS. A tenant
moved by a rebalance meanwhile is still served correctly, by a node that forwards its statements;
and the tenant's pushes take turns on its `tenant_state` row, wherever they entered
(store/engine.write_transaction). A node's engine reaches it at the host and port the cluster
registered for it (`pg_dist_node`), with the user, password, database and options of
`PUSHAPI_DATABASE_URL` (docs/operations.md, "Growing past one database").
"""

import logging
import threading
import time

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from pushapi.config import Settings
from pushapi.store.dialect import is_distributed
from pushapi.store.engine import build_engine

log = logging.getLogger(__name__)

PLACEMENT_SECONDS = 60.0

# The node of the shard group of tenant %s, whether it holds Citus's metadata, and whether it is
# the coordinator (group 0). Every distributed table is co-located with tenant_state.
_PLACEMENT = (
    "SELECT n.nodename, n.nodeport, n.groupid = 0, n.hasmetadata AND n.metadatasynced"
    " FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid"
    " WHERE p.shardid = get_shard_id_for_distribution_column('tenant_state', %s)"
    " AND n.isactive AND n.noderole = 'primary' ORDER BY n.nodeid LIMIT 1"
)


class TenantPlacement:
    """The engine to send each tenant's pushes to (see the module's docstring); thread-safe."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self._settings = settings
        self._routes = settings.citus_route_pushes == "on" and engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._tenants: dict[int, tuple[float, Engine]] = {}  # tenant -> (until, engine)
        self._nodes: dict[tuple[str, int], Engine] = {}

    def cached(self, tenant_id: int) -> Engine | None:
        """The tenant's engine if it is known without asking the database, else None."""
        if not self._routes:
            return self.engine
        found = self._tenants.get(tenant_id)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        return None

    def engine_for(self, tenant_id: int) -> Engine:
        """The engine of the node that holds the tenant's shards (may ask the coordinator)."""
        engine = self.cached(tenant_id)
        if engine is not None:
            return engine
        engine = self._look_up(tenant_id)
        with self._lock:
            self._tenants[tenant_id] = (time.monotonic() + PLACEMENT_SECONDS, engine)
        return engine

    def _look_up(self, tenant_id: int) -> Engine:
        try:
            with self.engine.connect() as conn:
                if not is_distributed(conn):
                    self._routes = False  # a plain database: nothing to look up, ever
                    return self.engine
                row = conn.exec_driver_sql(_PLACEMENT, (tenant_id,)).first()
        except SQLAlchemyError as error:
            # The coordinator serves every tenant too: a push goes through it meanwhile.
            log.warning(
                "tenant placement lookup failed; pushes go through the coordinator",
                extra={"tenant_id": tenant_id, "error": type(error).__name__},
            )
            return self.engine
        if row is None:
            return self.engine
        host, port, coordinator, has_metadata = row
        if coordinator or not has_metadata:
            return self.engine
        return self._node(str(host), int(port))

    def _node(self, host: str, port: int) -> Engine:
        with self._lock:
            engine = self._nodes.get((host, port))
            if engine is None:
                # (a host or port in the query, as libpq allows, would win over the URL's own)
                configured = make_url(self._settings.database_url)
                url = configured.difference_update_query(["host", "hostaddr", "port"])
                url = url.set(host=host, port=port)
                update = {"database_url": url.render_as_string(hide_password=False)}
                engine = build_engine(self._settings.model_copy(update=update))
                self._nodes[(host, port)] = engine
            return engine

    def dispose(self) -> None:
        """Close the nodes' pools (not the coordinator's engine, which is the caller's)."""
        with self._lock:
            nodes, self._nodes = list(self._nodes.values()), {}
            self._tenants.clear()
        for engine in nodes:
            engine.dispose()
