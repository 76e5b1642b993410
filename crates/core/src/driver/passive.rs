//! `host` and `null`: networks with no kernel objects of their own. A
//! container on `host` runs in the host's namespace; one on `none` has a
//! namespace with only `lo`, made by its sandbox, not by a driver.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use berth_types::{EndpointId, IfName};

use crate::config::EngineConfig;
use crate::driver::{done, DriverFuture, Join, Leave, NetworkDriver};
use crate::error::Result;
use crate::network::Network;
use crate::ports::{EndpointCheck, EndpointFault, FwNetwork, Host};

pub(crate) struct PassiveDriver;

impl<H: Host> NetworkDriver<H> for PassiveDriver {
    fn plan<'a>(
        &'a self,
        _: &'a H,
        _: &'a mut Network,
        _: &'a [Network],
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        done(())
    }

    fn has_endpoints(&self) -> bool {
        false
    }

    fn start<'a>(&'a self, _: &'a H, _: &'a EngineConfig) -> DriverFuture<'a, ()> {
        done(())
    }

    fn create_network<'a>(
        &'a self,
        _: &'a H,
        _: &'a Network,
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        done(())
    }

    fn delete_network<'a>(&'a self, _: &'a Arc<H>, _: &'a Network) -> DriverFuture<'a, ()> {
        done(())
    }

    fn settle<'a>(&'a self, _: Option<&'a Network>) -> DriverFuture<'a, ()> {
        done(())
    }

    fn remove_orphans<'a>(
        &'a self,
        _: &'a H,
        _: &'a [Network],
        _: &'a BTreeSet<&'a str>,
    ) -> DriverFuture<'a, ()> {
        done(())
    }

    fn host_ifname(&self, _: &EndpointId) -> Result<Option<IfName>> {
        Ok(None)
    }

    fn join<'a>(&'a self, _: &'a H, _: Join<'a>) -> DriverFuture<'a, ()> {
        done(())
    }

    fn leave<'a>(&'a self, _: &'a H, _: Leave<'a>) -> DriverFuture<'a, ()> {
        done(())
    }

    fn endpoint_fault<'a>(
        &'a self,
        _: &'a H,
        _: Join<'a>,
        _: EndpointCheck,
    ) -> DriverFuture<'a, Option<EndpointFault>> {
        done(None)
    }

    fn firewall(&self, _: &Network, _: &EngineConfig) -> Option<FwNetwork> {
        None
    }

    fn publishes_ports(&self) -> bool {
        false
    }

    fn default_host_ip(&self, _: &Network) -> Option<IpAddr> {
        None
    }
}
