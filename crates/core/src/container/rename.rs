//! `rename`: a container's new name, in the record and in the embedded
//! DNS of the networks it is on.

use tracing::info;

use crate::container::create::{check_container_name, name_conflict};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Txn;
use crate::ports::Host;

impl<H: Host> Engine<H> {
    pub(crate) fn rename_container(&mut self, reference: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim();
        if reference.trim().trim_start_matches('/').is_empty()
            || new_name.trim_start_matches('/').is_empty()
        {
            return Err(Error::InvalidParameter(
                "Neither old nor new names may be empty".to_owned(),
            ));
        }
        let mut c = self.container(reference)?;
        let new_name = check_container_name(new_name)?;
        if c.name == new_name {
            return Err(Error::InvalidParameter(
                "Renaming a container with the same name as its current name".to_owned(),
            ));
        }
        if let Some(holder) = self.model.containers.name_holder(&new_name) {
            return Err(match name_conflict(&new_name, &holder) {
                Error::Conflict(why) => {
                    Error::Conflict(format!("Error when allocating new name: {why}"))
                }
                other => other,
            });
        }
        let old = std::mem::replace(&mut c.name, new_name);
        self.commit(Txn::new(format!("rename container {old} to {}", c.name)).put_container(&c))?;
        if c.is_running() {
            self.publish_names(&c);
        }
        info!(from = %old, to = %c.name, "container renamed");
        self.container_event(&c, "rename", &[("oldName", old)]);
        Ok(())
    }
}
