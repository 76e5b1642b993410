//! Containers, their endpoints, and the endpoints' address allocations.

use std::net::IpAddr;

use berth_core::container::Container;
use berth_core::ports::EndpointRecord;
use berth_types::{ContainerId, EndpointId, IfName, NetworkId};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::Constraint;
use crate::{encode_record, from_unix_ns, lock, SqliteStore, StoreError};

const CONTAINERS: &str = "containers";
const ENDPOINTS: &str = "endpoints";

/// Docker's text for an address the network already gave out.
pub(crate) const ADDRESS_IN_USE: &str = "Address already in use";

impl SqliteStore {
    /// Every container, oldest first.
    pub fn containers(&self) -> Result<Vec<Container>, StoreError> {
        const OP: &str = "list containers";
        let conn = lock(&self.reader);
        let sql_err = |source| StoreError::sqlite(OP, "(all)", source);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, name, state, created_ns, spec FROM containers ORDER BY created_ns, id",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(ContainerRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    state: row.get(2)?,
                    created_ns: row.get(3)?,
                    spec: row.get(4)?,
                })
            })
            .map_err(sql_err)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(sql_err)?.decode()?);
        }
        Ok(out)
    }

    /// Inserts a new container; a taken name is [`StoreError::Conflict`] with
    /// Docker's text, a taken id a conflict too.
    pub fn insert_container(&self, container: &Container) -> Result<(), StoreError> {
        const OP: &str = "insert container";
        let (spec, created_ns) = encode_container(OP, container)?;
        let conn = lock(&self.writer);
        conn.prepare_cached(
            "INSERT INTO containers (id, name, state, created_ns, spec) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                container.id.as_str(),
                container.name,
                container.state.status.as_str(),
                created_ns,
                spec
            ])
        })
        .map_err(|e| container_write_error(&conn, OP, container, e))?;
        Ok(())
    }

    /// Replaces a stored container (same id); an unknown id is
    /// [`StoreError::NotFound`], a name taken by another container
    /// [`StoreError::Conflict`].
    pub fn update_container(&self, container: &Container) -> Result<(), StoreError> {
        const OP: &str = "update container";
        let (spec, created_ns) = encode_container(OP, container)?;
        let conn = lock(&self.writer);
        let changed = conn
            .prepare_cached(
                "UPDATE containers SET name = ?2, state = ?3, created_ns = ?4, spec = ?5 \
                 WHERE id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    container.id.as_str(),
                    container.name,
                    container.state.status.as_str(),
                    created_ns,
                    spec
                ])
            })
            .map_err(|e| container_write_error(&conn, OP, container, e))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                op: OP,
                what: format!("container {}", container.id),
            });
        }
        Ok(())
    }

    /// Deletes a container's endpoints (releasing their addresses), then the
    /// container, in one transaction. Deleting an id that is not stored
    /// succeeds.
    pub fn delete_container(&self, id: &ContainerId) -> Result<(), StoreError> {
        const OP: &str = "delete container";
        let sql_err = |source| StoreError::sqlite(OP, format!("container {id}"), source);
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        for sql in [
            "DELETE FROM endpoints WHERE container_id = ?1",
            "DELETE FROM containers WHERE id = ?1",
        ] {
            tx.prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute(params![id.as_str()]))
                .map_err(sql_err)?;
        }
        tx.commit().map_err(sql_err)
    }

    /// Records an endpoint and allocates its addresses on its network, in one
    /// transaction. An address the network already holds (for an endpoint or
    /// as a reservation) is [`StoreError::Conflict`] `Address already in use`
    /// and nothing is written; so is a taken endpoint id, a second endpoint of
    /// the container on the network, or a second interface of the container
    /// with the same name. An unknown network or container is
    /// [`StoreError::NotFound`].
    pub fn insert_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), StoreError> {
        const OP: &str = "insert endpoint";
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::sqlite(OP, endpoint_target(endpoint), e))?;
        let write_err = |e| endpoint_write_error(&tx, OP, endpoint, e);
        tx.prepare_cached(
            "INSERT INTO endpoints (id, network_id, container_id, ifname, host_ifname) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                endpoint.id.as_str(),
                endpoint.network.as_str(),
                endpoint.container.as_str(),
                endpoint.ifname.as_str(),
                endpoint.host_ifname.as_str(),
            ])
        })
        .map_err(write_err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO ip_allocations (network_id, address, endpoint_id) \
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(write_err)?;
            for address in &endpoint.addresses {
                stmt.execute(params![
                    endpoint.network.as_str(),
                    address.to_string(),
                    endpoint.id.as_str()
                ])
                .map_err(write_err)?;
            }
        }
        // Dropping `tx` on any error above rolled everything back.
        tx.commit()
            .map_err(|e| StoreError::sqlite(OP, endpoint_target(endpoint), e))
    }

    /// Deletes an endpoint, releasing its addresses (cascade). Deleting an id
    /// that is not stored succeeds.
    pub fn delete_endpoint(&self, id: &EndpointId) -> Result<(), StoreError> {
        const OP: &str = "delete endpoint";
        let conn = lock(&self.writer);
        conn.prepare_cached("DELETE FROM endpoints WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(params![id.as_str()]))
            .map_err(|e| StoreError::sqlite(OP, format!("endpoint {id}"), e))?;
        Ok(())
    }

    /// Every endpoint with its addresses, by container then interface name.
    /// Each endpoint's addresses come back in ascending order (IPv4 first),
    /// whatever the order they were inserted in.
    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        const OP: &str = "list endpoints";
        let conn = lock(&self.reader);
        let sql_err = |source| StoreError::sqlite(OP, "(all)", source);
        let mut stmt = conn
            .prepare_cached(
                "SELECT e.id, e.network_id, e.container_id, e.ifname, e.host_ifname, a.address \
                 FROM endpoints AS e \
                 LEFT JOIN ip_allocations AS a ON a.endpoint_id = e.id \
                 ORDER BY e.container_id, e.ifname, e.id",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(EndpointRow {
                    id: row.get(0)?,
                    network: row.get(1)?,
                    container: row.get(2)?,
                    ifname: row.get(3)?,
                    host_ifname: row.get(4)?,
                    address: row.get(5)?,
                })
            })
            .map_err(sql_err)?;
        let mut out: Vec<EndpointRecord> = Vec::new();
        for row in rows {
            let row = row.map_err(sql_err)?;
            // One row per address: the rows of an endpoint are consecutive.
            let address = row.address()?;
            match out.last_mut() {
                Some(last) if last.id.as_str() == row.id => last.addresses.extend(address),
                _ => {
                    let mut record = row.decode()?;
                    record.addresses.extend(address);
                    out.push(record);
                }
            }
        }
        for record in &mut out {
            record.addresses.sort_unstable();
        }
        Ok(out)
    }
}

fn encode_container(op: &'static str, container: &Container) -> Result<(String, i64), StoreError> {
    encode_record(
        op,
        || format!("container {} ({})", container.id, container.name),
        container.created,
        serde_json::to_string(container),
    )
}

/// Docker's text for a taken container name, naming the container that has it.
fn name_in_use(name: &str, holder: &str) -> String {
    format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". \
         You have to remove (or rename) that container to be able to reuse that name."
    )
}

fn container_write_error(
    conn: &Connection,
    op: &'static str,
    container: &Container,
    e: rusqlite::Error,
) -> StoreError {
    let target = || format!("container {} ({})", container.id, container.name);
    match Constraint::of(&e) {
        Some((Constraint::Unique, "UNIQUE constraint failed: containers.name")) => {
            let holder = conn
                .prepare_cached("SELECT id FROM containers WHERE name = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row(params![container.name], |row| row.get::<_, String>(0))
                        .optional()
                });
            match holder {
                Ok(Some(holder)) => StoreError::Conflict {
                    op,
                    what: name_in_use(&container.name, &holder),
                },
                // Gone in between (another process): report the original.
                Ok(None) => StoreError::Conflict {
                    op,
                    what: format!(
                        "Conflict. The container name \"/{}\" is already in use.",
                        container.name
                    ),
                },
                Err(lookup) => StoreError::sqlite(op, target(), lookup),
            }
        }
        Some((Constraint::Unique, "UNIQUE constraint failed: containers.id")) => {
            StoreError::Conflict {
                op,
                what: format!("container with id {} already exists", container.id),
            }
        }
        Some((_, msg)) => StoreError::Conflict {
            op,
            what: format!("{}: {msg}", target()),
        },
        None => StoreError::sqlite(op, target(), e),
    }
}

fn endpoint_target(endpoint: &EndpointRecord) -> String {
    format!(
        "endpoint {} of container {} on network {}",
        endpoint.id, endpoint.container, endpoint.network
    )
}

fn endpoint_write_error(
    conn: &Connection,
    op: &'static str,
    endpoint: &EndpointRecord,
    e: rusqlite::Error,
) -> StoreError {
    let conflict = |what: String| StoreError::Conflict { op, what };
    let Some((kind, msg)) = Constraint::of(&e) else {
        return StoreError::sqlite(op, endpoint_target(endpoint), e);
    };
    let columns = msg.strip_prefix("UNIQUE constraint failed: ");
    match (kind, columns) {
        (Constraint::Unique, Some("ip_allocations.network_id, ip_allocations.address")) => {
            conflict(ADDRESS_IN_USE.to_owned())
        }
        (Constraint::Unique, Some("endpoints.id")) => {
            conflict(format!("endpoint with id {} already exists", endpoint.id))
        }
        (Constraint::Unique, Some("endpoints.network_id, endpoints.container_id")) => {
            conflict(format!(
                "container {} already has an endpoint on network {}",
                endpoint.container, endpoint.network
            ))
        }
        (Constraint::Unique, Some("endpoints.container_id, endpoints.ifname")) => {
            conflict(format!(
                "container {} already has an interface named {}",
                endpoint.container, endpoint.ifname
            ))
        }
        (Constraint::ForeignKey, _) => missing_parent(conn, op, endpoint),
        _ => conflict(format!("{}: {msg}", endpoint_target(endpoint))),
    }
}

/// Which of an endpoint's network and container is not stored, after a
/// foreign-key failure (SQLite's message does not say).
fn missing_parent(conn: &Connection, op: &'static str, endpoint: &EndpointRecord) -> StoreError {
    let exists = |sql: &str, id: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.exists(params![id]))
    };
    let network = exists(
        "SELECT 1 FROM networks WHERE id = ?1",
        endpoint.network.as_str(),
    );
    let container = exists(
        "SELECT 1 FROM containers WHERE id = ?1",
        endpoint.container.as_str(),
    );
    let what = match (network, container) {
        (Ok(false), _) => format!("network {}", endpoint.network),
        (_, Ok(false)) => format!("container {}", endpoint.container),
        (Err(e), _) | (_, Err(e)) => return StoreError::sqlite(op, endpoint_target(endpoint), e),
        (Ok(true), Ok(true)) => format!(
            "network {} or container {}",
            endpoint.network, endpoint.container
        ),
    };
    StoreError::NotFound { op, what }
}

/// One `containers` row as read, before decoding.
struct ContainerRow {
    id: String,
    name: String,
    state: String,
    created_ns: i64,
    spec: String,
}

impl ContainerRow {
    fn decode(self) -> Result<Container, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptRow {
            table: CONTAINERS,
            id: self.id.clone(),
            reason,
        };
        let mut container: Container =
            serde_json::from_str(&self.spec).map_err(|e| corrupt(format!("spec JSON: {e}")))?;
        if container.id.as_str() != self.id {
            return Err(corrupt(format!("spec has id {}", container.id)));
        }
        if container.name != self.name {
            return Err(corrupt(format!(
                "spec has name {:?}, column has {:?}",
                container.name, self.name
            )));
        }
        if container.state.status.as_str() != self.state {
            return Err(corrupt(format!(
                "spec has state {:?}, column has {:?}",
                container.state.status.as_str(),
                self.state
            )));
        }
        // The column is the authority for the time (the JSON carries a copy).
        container.created = from_unix_ns(self.created_ns)
            .ok_or_else(|| corrupt(format!("created_ns {} out of range", self.created_ns)))?;
        Ok(container)
    }
}

/// One row of the endpoints × allocations join, before decoding.
struct EndpointRow {
    id: String,
    network: String,
    container: String,
    ifname: String,
    host_ifname: String,
    address: Option<String>,
}

impl EndpointRow {
    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::CorruptRow {
            table: ENDPOINTS,
            id: self.id.clone(),
            reason,
        }
    }

    /// The endpoint without its addresses.
    fn decode(&self) -> Result<EndpointRecord, StoreError> {
        Ok(EndpointRecord {
            id: EndpointId::parse(&self.id).map_err(|e| self.corrupt(e.to_string()))?,
            network: NetworkId::parse(&self.network)
                .map_err(|e| self.corrupt(format!("network_id: {e}")))?,
            container: ContainerId::parse(&self.container)
                .map_err(|e| self.corrupt(format!("container_id: {e}")))?,
            ifname: IfName::parse(&self.ifname)
                .map_err(|e| self.corrupt(format!("ifname: {e}")))?,
            host_ifname: IfName::parse(&self.host_ifname)
                .map_err(|e| self.corrupt(format!("host_ifname: {e}")))?,
            addresses: Vec::new(),
        })
    }

    /// This row's address, if the endpoint has any.
    fn address(&self) -> Result<Option<IpAddr>, StoreError> {
        self.address
            .as_deref()
            .map(|text| {
                text.parse::<IpAddr>()
                    .map_err(|e| self.corrupt(format!("address {text:?}: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests;
