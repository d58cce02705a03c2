//! One concrete packet: a value for every dimension.

use super::dim::{DIMS, Dim, Family, State, addr, iface, proto};
use serde::Serialize;

/// A point of the packet space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Packet {
    v: [u128; DIMS],
}

impl Packet {
    pub fn get(&self, d: Dim) -> u128 {
        self.v[d.index()]
    }

    pub fn set(&mut self, d: Dim, value: u128) {
        self.v[d.index()] = value;
    }

    pub fn family(&self) -> Family {
        Family::from_value(self.get(Dim::Family))
    }

    pub fn proto(&self) -> u8 {
        self.get(Dim::Proto) as u8
    }

    /// The fields a person needs to recreate the packet; ports only for
    /// protocols that have them, ICMP type only for ICMP, and so on.
    pub fn describe(&self) -> PacketView {
        let fam = self.family();
        let p = self.proto();
        let ports = proto::has_ports(p);
        let is_icmp = p == fam.icmp_proto();
        let icmp = self.get(Dim::Icmp);
        PacketView {
            family: fam.name(),
            src: addr::to_ip(self.get(Dim::Src), fam).to_string(),
            dst: addr::to_ip(self.get(Dim::Dst), fam).to_string(),
            proto: proto::name(p).map_or_else(|| p.to_string(), str::to_string),
            sport: ports.then(|| self.get(Dim::Sport) as u16),
            dport: ports.then(|| self.get(Dim::Dport) as u16),
            icmp_type: is_icmp.then_some((icmp >> 8) as u8),
            icmp_code: is_icmp.then_some((icmp & 0xff) as u8),
            tcp_flags: (p == proto::TCP)
                .then(|| super::dim::TcpFlag::names(self.get(Dim::Flags) as u8)),
            state: State::name(self.get(Dim::State)),
            in_interface: iface::decode(self.get(Dim::In)),
            out_interface: iface::decode(self.get(Dim::Out)),
        }
    }
}

/// The serialised form of a witness packet (SPEC §6).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PacketView {
    pub family: &'static str,
    pub src: String,
    pub dst: String,
    pub proto: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<String>,
    pub state: &'static str,
    #[serde(rename = "in")]
    pub in_interface: String,
    #[serde(rename = "out")]
    pub out_interface: String,
}

impl std::fmt::Display for PacketView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.family, self.proto, self.src)?;
        if let Some(p) = self.sport {
            write!(f, ":{p}")?;
        }
        write!(f, " -> {}", self.dst)?;
        if let Some(p) = self.dport {
            write!(f, ":{p}")?;
        }
        if let (Some(t), Some(c)) = (self.icmp_type, self.icmp_code) {
            write!(f, " icmp {t}/{c}")?;
        }
        if let Some(flags) = &self.tcp_flags {
            write!(f, " [{flags}]")?;
        }
        write!(
            f,
            " {} in {} out {}",
            self.state, self.in_interface, self.out_interface
        )
    }
}
