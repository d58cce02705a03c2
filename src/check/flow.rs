//! Connection tracking as the checks need it: the reply of each packet that
//! opens a connection, and back. A requirement "works" for a packet when the
//! packet is accepted and so is its reply.

use crate::space::dim::{TcpFlag, proto};
use crate::space::{Cube, Dim, IntervalSet, PacketSet, State};

/// ICMP dimension values (type << 8 | code) of echo request and reply.
pub const ICMP_ECHO_REQUEST: u128 = 8 << 8;
pub const ICMP_ECHO_REPLY: u128 = 0;
pub const ICMPV6_ECHO_REQUEST: u128 = 128 << 8;
pub const ICMPV6_ECHO_REPLY: u128 = 129 << 8;

const SYN: u128 = TcpFlag::SYN as u128;
const SYN_ACK: u128 = (TcpFlag::SYN | TcpFlag::ACK) as u128;

/// Replies of the packets of `set`, which open connections: addresses, ports
/// and interfaces swapped, state established, SYN answered by SYN-ACK, echo
/// request by echo reply.
pub fn replies(set: &PacketSet) -> PacketSet {
    map(set, Direction::Reply)
}

/// The connection-opening packets whose replies are `set`; the inverse of [`replies`].
pub fn requests(set: &PacketSet) -> PacketSet {
    map(set, Direction::Request)
}

/// Maps every cube. When each cube's state is the single value being mapped
/// (as in every requirement space, all connection openings), the map is
/// one-to-one on the set, disjoint cubes stay disjoint and no union is needed.
fn map(set: &PacketSet, dir: Direction) -> PacketSet {
    let from = match dir {
        Direction::Reply => State::NEW,
        Direction::Request => State::ESTABLISHED,
    };
    let one_to_one = set
        .cubes()
        .iter()
        .all(|c| c.get(Dim::State).is_single() == Some(from));
    if one_to_one {
        PacketSet::from_disjoint(set.cubes().iter().filter_map(|c| swap(c, dir)).collect())
    } else {
        set.map_cubes(|c| swap(c, dir))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Reply,
    Request,
}

fn swap(c: &Cube, dir: Direction) -> Option<Cube> {
    let p = c.get(Dim::Proto).is_single().map(|p| p as u8);
    // Each pair is (value in the opening packet, value in its reply).
    let pairs: &[(Dim, u128, u128)] = match p {
        Some(proto::TCP) => &[
            (Dim::State, State::NEW, State::ESTABLISHED),
            (Dim::Flags, SYN, SYN_ACK),
        ],
        Some(proto::ICMP) => &[
            (Dim::State, State::NEW, State::ESTABLISHED),
            (Dim::Icmp, ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY),
        ],
        Some(proto::ICMPV6) => &[
            (Dim::State, State::NEW, State::ESTABLISHED),
            (Dim::Icmp, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY),
        ],
        _ => &[(Dim::State, State::NEW, State::ESTABLISHED)],
    };
    c.map_dims(|d, s| {
        let mapped = pairs
            .iter()
            .find(|(pd, ..)| *pd == d)
            .and_then(|&(_, open, reply)| {
                let (from, to) = if dir == Direction::Reply {
                    (open, reply)
                } else {
                    (reply, open)
                };
                (s.is_single() == Some(from)).then(|| IntervalSet::point(to))
            });
        (d.reversed(), mapped.unwrap_or_else(|| s.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Family;

    #[test]
    fn reply_of_a_syn_is_a_syn_ack_the_other_way() {
        let c = Cube::family(Family::Ipv4)
            .with(Dim::Proto, IntervalSet::point(6))
            .unwrap()
            .with(Dim::Flags, IntervalSet::point(SYN))
            .unwrap()
            .with(Dim::State, IntervalSet::point(State::NEW))
            .unwrap()
            .with(Dim::Src, IntervalSet::point(10))
            .unwrap()
            .with(Dim::Dport, IntervalSet::point(443))
            .unwrap();
        let r = replies(&c.clone().into());
        let rc = &r.cubes()[0];
        assert_eq!(rc.get(Dim::Dst), &IntervalSet::point(10));
        assert_eq!(rc.get(Dim::Sport), &IntervalSet::point(443));
        assert_eq!(rc.get(Dim::Flags), &IntervalSet::point(SYN_ACK));
        assert_eq!(rc.get(Dim::State), &IntervalSet::point(State::ESTABLISHED));
        assert_eq!(requests(&r), c.into());
    }
}
