//! Open connections counted in all and per address, so one machine on the LAN cannot take
//! every place. The HTTP server ([`super::serve`]) and the one-box broker's gate both hold
//! their connections here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// Every place is taken.
    Full,
    /// The address holds as many as one address may.
    ClientFull,
}

#[derive(Default)]
struct Counts {
    open: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// At most `max` open connections, and `max_per_client` from one address.
pub struct ConnectionSlots {
    counts: Arc<Mutex<Counts>>,
    max: usize,
    max_per_client: usize,
}

/// One connection's place; gives it back when dropped.
pub struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.open = c.open.saturating_sub(1);
        if let Some(n) = c.per_client.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_client.remove(&self.ip);
            }
        }
    }
}

impl ConnectionSlots {
    /// Room for `max` connections, `max_per_client` from one address.
    pub fn new(max: usize, max_per_client: usize) -> ConnectionSlots {
        ConnectionSlots {
            counts: Arc::default(),
            max,
            max_per_client,
        }
    }

    /// A place for a connection from `ip`, or why there is none.
    pub fn take(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.open >= self.max {
            return Err(Refusal::Full);
        }
        let mine = c.per_client.entry(ip).or_default();
        if *mine >= self.max_per_client {
            return Err(Refusal::ClientFull);
        }
        *mine += 1;
        c.open += 1;
        Ok(Slot {
            counts: self.counts.clone(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_given_back() {
        let slots = ConnectionSlots::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = slots.take(a).expect("first");
        let _a2 = slots.take(a).expect("second");
        assert_eq!(slots.take(a).err(), Some(Refusal::ClientFull));
        let _b1 = slots.take(b).expect("another address");
        assert_eq!(slots.take(b).err(), Some(Refusal::Full));
        drop(a1);
        assert!(slots.take(b).is_ok(), "a freed slot is reused");
    }
}
