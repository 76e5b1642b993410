//! [`FixedEnv`]: a deterministic clock, id source and host resolv.conf.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_core::ports::Env;

/// Time starts at a fixed instant and advances a second per call; ids count up.
#[derive(Default)]
pub struct FixedEnv {
    ticks: AtomicU64,
    ids: AtomicU64,
}

impl Env for FixedEnv {
    fn now(&self) -> SystemTime {
        let t = self.ticks.fetch_add(1, Ordering::Relaxed);
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + t)
    }

    fn random_id_bytes(&self) -> [u8; 32] {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        // The count leads, so short ids (and bridge names) differ too.
        let mut bytes = [0x5a; 32];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes
    }

    fn host_resolv_conf(&self) -> String {
        "nameserver 10.0.0.2\nsearch example.test\n".to_owned()
    }
}
