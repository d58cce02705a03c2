//! The dialler's traffic as a capture shows it (`octaverify pcap`): the
//! frames of a pcap or pcapng file read into IP packets ([`read`]).

pub mod read;
