//! The typed parameters and results of the daemon-wide operations: the
//! event feed, `system df` and berth's cluster nodes.

use std::collections::BTreeMap;
use std::pin::Pin;

use bollard_stubs::models::{BuildCache, ContainerSummary, ImageSummary, Volume};
use futures::Stream;
use serde::Serialize;

use crate::filters::Filters;

/// `GET /events` parameters: the window in Unix nanoseconds, and the
/// filters as sent (dockerd does not check their keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filters: Filters,
}

/// One event in the API's shape (moby's `events.Message`); the handler adds
/// the legacy `status`/`id`/`from` fields older API versions carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// What `GET /events` sends: the kept events first, then the live ones.
pub struct EventFeed {
    pub past: Vec<EventMessage>,
    pub live: Pin<Box<dyn Stream<Item = EventMessage> + Send>>,
}

/// `GET /system/df?type=` (API >= 1.42): which kinds of object to count;
/// all of them when the client names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataUsageOptions {
    pub containers: bool,
    pub images: bool,
    pub volumes: bool,
    pub build_cache: bool,
}

impl Default for DataUsageOptions {
    fn default() -> Self {
        DataUsageOptions {
            containers: true,
            images: true,
            volumes: true,
            build_cache: true,
        }
    }
}

/// `GET /system/df`'s answer in API 1.50's shape; a kind not asked for is
/// left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<ImageSummary>>,
    /// With `SizeRw` and `SizeRootFs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<ContainerSummary>>,
    /// With `UsageData`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_cache: Option<Vec<BuildCache>>,
}

/// A host of berth's cluster, as `GET /berth/nodes` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub hostname: String,
    /// Its advertise address (VXLAN's endpoint).
    pub advertise: String,
    /// `alive` while its lease holds, else `down`.
    pub status: String,
    /// The overlay endpoints it publishes.
    pub endpoints: u64,
}
