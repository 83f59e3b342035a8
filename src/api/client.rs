//! Who a client is, for counting: the connection caps of the listener and
//! the wrong pairing codes of `tablets.rs` count by [`ClientAddr`], not by
//! the exact peer address.
//!
//! Why: an IPv6 host owns a whole /64 and picks any address in it at will
//! (privacy addresses, or simply one per connection), so counting exact
//! IPv6 addresses would let one host open `max_connections_per_client`
//! connections per address, that is without limit.
//!
//! Must never: tell two IPv4 addresses apart less finely than by address
//! (a store's tills sit behind no NAT on the LAN).

use std::net::{IpAddr, Ipv6Addr};

/// The address a client is counted by: an IPv4 address as it is (also when
/// it arrives IPv4-mapped on an IPv6 socket), an IPv6 address by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(IpAddr);

impl ClientAddr {
    pub fn of(peer: IpAddr) -> ClientAddr {
        match peer {
            IpAddr::V4(v4) => ClientAddr(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientAddr(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    ClientAddr(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
            IpAddr::V4(v4) => write!(f, "{v4}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(s: &str) -> ClientAddr {
        ClientAddr::of(s.parse().unwrap())
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_ipv4_by_address() {
        // One IPv6 host, many addresses in its /64: one client.
        assert_eq!(client("2001:db8:1:2::9"), client("2001:db8:1:2:ffff::1"));
        assert_eq!(client("2001:db8:1:2::9").to_string(), "2001:db8:1:2::/64");
        // The next /64 is someone else.
        assert_ne!(client("2001:db8:1:2::9"), client("2001:db8:1:3::9"));
        // IPv4 addresses stay apart, also when they arrive IPv4-mapped.
        assert_ne!(client("192.168.1.10"), client("192.168.1.11"));
        assert_eq!(client("::ffff:192.168.1.10"), client("192.168.1.10"));
        assert_eq!(client("::ffff:192.168.1.10").to_string(), "192.168.1.10");
    }
}
