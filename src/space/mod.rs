//! The symbolic packet space: exact sets of packets and their rendering.

pub mod dim;
pub mod index;
pub mod interval;
pub mod packet;
pub mod render;
pub mod set;

pub use dim::{DIMS, Dim, Family, State, TcpFlag};
pub use index::CubeIndex;
pub use interval::IntervalSet;
pub use packet::{Packet, PacketView};
pub use render::{Names, render_set, render_within};
pub use set::{Cube, PacketSet};
