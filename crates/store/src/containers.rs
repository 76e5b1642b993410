//! Containers, their endpoints, and the endpoints' address allocations.

use berth_core::container::{Container, Endpoint};
use berth_types::{ContainerId, NetworkId};
use rusqlite::{params, Connection, OptionalExtension};

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
            let mut container = row.map_err(sql_err)?.decode()?;
            // Records written before endpoints were stored once carry a
            // copy: the endpoints table is the authority.
            for attachment in &mut container.attachments {
                attachment.endpoint = None;
            }
            out.push(container);
        }
        let mut stmt = conn
            .prepare_cached("SELECT id, container_id, network_id, spec FROM endpoints")
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(sql_err)?;
        let by_id: std::collections::HashMap<String, usize> = out
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.to_string(), i))
            .collect();
        for row in rows {
            let (id, container, network, spec) = row.map_err(sql_err)?;
            let corrupt = |reason: String| StoreError::CorruptRow {
                table: ENDPOINTS,
                id: id.clone(),
                reason,
            };
            let endpoint: Endpoint = serde_json::from_str(spec.as_deref().unwrap_or_default())
                .map_err(|e| corrupt(format!("spec JSON: {e}")))?;
            let attachment = by_id
                .get(&container)
                .and_then(|&i| out.get_mut(i))
                .and_then(|c| {
                    c.attachments
                        .iter_mut()
                        .find(|a| a.network.as_str() == network)
                })
                .ok_or_else(|| {
                    corrupt(format!(
                        "container {container} has no attachment to network {network}"
                    ))
                })?;
            attachment.endpoint = Some(endpoint);
        }
        Ok(out)
    }
}

/// Inserts a container or replaces the one with its id, and brings its
/// endpoint rows in line with its live endpoints: new ones are inserted
/// with their addresses allocated, gone ones deleted (releasing their
/// addresses). Endpoints do not change once made, so one that is stored
/// already is left alone.
pub(crate) fn put(conn: &Connection, container: &Container) -> Result<(), StoreError> {
    const OP: &str = "put container";
    let (spec, created_ns) = encode_container(OP, container)?;
    conn.prepare_cached(
        "INSERT INTO containers (id, name, state, created_ns, spec) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, \
         created_ns = excluded.created_ns, spec = excluded.spec",
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
    .map_err(|e| container_write_error(conn, OP, container, e))?;

    let target = || format!("endpoints of container {}", container.id);
    let stored: Vec<String> = conn
        .prepare_cached("SELECT id FROM endpoints WHERE container_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_map(params![container.id.as_str()], |row| row.get(0))?
                .collect()
        })
        .map_err(|e| StoreError::sqlite(OP, target(), e))?;
    let live: Vec<(&NetworkId, &Endpoint)> = container
        .attachments
        .iter()
        .filter_map(|a| Some((&a.network, a.endpoint.as_ref()?)))
        .collect();
    for id in &stored {
        if !live.iter().any(|(_, e)| e.id.as_str() == id) {
            conn.prepare_cached("DELETE FROM endpoints WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute(params![id]))
                .map_err(|e| StoreError::sqlite(OP, format!("endpoint {id}"), e))?;
        }
    }
    for (network, endpoint) in live {
        if !stored.iter().any(|id| id == endpoint.id.as_str()) {
            insert_endpoint(conn, &container.id, network, endpoint)?;
        }
    }
    Ok(())
}

/// Deletes a container with its endpoints (releasing their addresses).
/// Deleting an id that is not stored succeeds.
pub(crate) fn delete(conn: &Connection, id: &ContainerId) -> Result<(), StoreError> {
    const OP: &str = "delete container";
    for sql in [
        "DELETE FROM endpoints WHERE container_id = ?1",
        "DELETE FROM containers WHERE id = ?1",
    ] {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params![id.as_str()]))
            .map_err(|e| StoreError::sqlite(OP, format!("container {id}"), e))?;
    }
    Ok(())
}

/// Records an endpoint and allocates its addresses on its network. An
/// address the network already holds is [`StoreError::Conflict`] `Address
/// already in use`; so is a second endpoint of the container on the
/// network, or a second interface of the container with the same name.
fn insert_endpoint(
    conn: &Connection,
    container: &ContainerId,
    network: &NetworkId,
    endpoint: &Endpoint,
) -> Result<(), StoreError> {
    const OP: &str = "insert endpoint";
    let row = EndpointRef {
        container,
        network,
        endpoint,
    };
    let spec = serde_json::to_string(endpoint).map_err(|e| StoreError::Encode {
        op: OP,
        target: row.target(),
        reason: format!("JSON: {e}"),
    })?;
    let write_err = |e| endpoint_write_error(conn, OP, &row, e);
    conn.prepare_cached(
        "INSERT INTO endpoints (id, network_id, container_id, ifname, host_ifname, spec) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            endpoint.id.as_str(),
            network.as_str(),
            container.as_str(),
            endpoint.ifname.as_str(),
            // A copy for queries by hand; "" for a driver without one.
            endpoint.host_ifname.as_ref().map_or("", |n| n.as_str()),
            spec,
        ])
    })
    .map_err(write_err)?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO ip_allocations (network_id, address, endpoint_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(write_err)?;
    for address in endpoint.addresses() {
        stmt.execute(params![
            network.as_str(),
            address.addr().to_string(),
            endpoint.id.as_str()
        ])
        .map_err(write_err)?;
    }
    Ok(())
}

/// An endpoint with whose it is and where, for error texts.
struct EndpointRef<'a> {
    container: &'a ContainerId,
    network: &'a NetworkId,
    endpoint: &'a Endpoint,
}

impl EndpointRef<'_> {
    fn target(&self) -> String {
        format!(
            "endpoint {} of container {} on network {}",
            self.endpoint.id, self.container, self.network
        )
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

fn endpoint_write_error(
    conn: &Connection,
    op: &'static str,
    row: &EndpointRef<'_>,
    e: rusqlite::Error,
) -> StoreError {
    let conflict = |what: String| StoreError::Conflict { op, what };
    let Some((kind, msg)) = Constraint::of(&e) else {
        return StoreError::sqlite(op, row.target(), e);
    };
    let endpoint = row.endpoint;
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
                row.container, row.network
            ))
        }
        (Constraint::Unique, Some("endpoints.container_id, endpoints.ifname")) => {
            conflict(format!(
                "container {} already has an interface named {}",
                row.container, endpoint.ifname
            ))
        }
        (Constraint::ForeignKey, _) => missing_parent(conn, op, row),
        _ => conflict(format!("{}: {msg}", row.target())),
    }
}

/// Which of an endpoint's network and container is not stored, after a
/// foreign-key failure (SQLite's message does not say).
fn missing_parent(conn: &Connection, op: &'static str, row: &EndpointRef<'_>) -> StoreError {
    let exists = |sql: &str, id: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.exists(params![id]))
    };
    let network = exists("SELECT 1 FROM networks WHERE id = ?1", row.network.as_str());
    let container = exists(
        "SELECT 1 FROM containers WHERE id = ?1",
        row.container.as_str(),
    );
    let what = match (network, container) {
        (Ok(false), _) => format!("network {}", row.network),
        (_, Ok(false)) => format!("container {}", row.container),
        (Err(e), _) | (_, Err(e)) => return StoreError::sqlite(op, row.target(), e),
        (Ok(true), Ok(true)) => format!("network {} or container {}", row.network, row.container),
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

#[cfg(test)]
mod tests;
