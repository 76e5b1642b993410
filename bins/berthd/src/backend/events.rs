//! `GET /events`: the engine's event log in the API's shape.

use berth_api::{EventActor, EventFeed, EventMessage, EventsQuery};
use berth_core::events::{self, EventFilter};
use berth_core::EngineHandle;

use crate::host::RealHost;

pub fn feed(engine: &EngineHandle<RealHost>, query: EventsQuery) -> EventFeed {
    let subscription =
        engine.subscribe_events(query.since, query.until, EventFilter::new(query.filters));
    let past = subscription.past.iter().map(to_wire).collect();
    let live = futures::stream::unfold(subscription, |mut s| async move {
        let next = s.next().await?;
        Some((to_wire(&next), s))
    });
    EventFeed {
        past,
        live: Box::pin(live),
    }
}

fn to_wire(m: &events::EventMessage) -> EventMessage {
    EventMessage {
        kind: m.kind.as_str().to_owned(),
        action: m.action.clone(),
        actor: EventActor {
            id: m.actor_id.clone(),
            attributes: m.attributes.clone(),
        },
        scope: "local".to_owned(),
        time: m.time_nano.div_euclid(1_000_000_000),
        time_nano: m.time_nano,
    }
}
