//! The in-memory store the engine tests use keeps the `Store` contract
//! (the same suite runs against SQLite in berth-store).

use berth_testkit::store_contract::check_store_contract;
use berth_testkit::MemStore;

#[test]
fn the_in_memory_store_keeps_the_contract() {
    check_store_contract(MemStore::default);
}
