//! The dialler's traffic as a capture shows it (`octaverify pcap`): the
//! frames of a pcap or pcapng file read into IP packets ([`read`]), gathered
//! into flows and classified ([`flows`]), each flow placed under the
//! requirements it belongs to ([`needs`]).

pub mod flows;
pub mod needs;
pub mod read;
