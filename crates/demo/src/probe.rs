//! Asks the demo's DNS server what a sample client gets, as a resolver would: one A
//! query over UDP with EDNS Client Subnet naming the client's network.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::world::{Client, HOSTNAME};

/// The addresses the server answers `client` with; empty when it gave none in time.
pub(crate) async fn answer(server: SocketAddr, client: &Client, id: u16) -> Vec<IpAddr> {
    let Ok(name) = Name::from_ascii(HOSTNAME) else {
        return Vec::new();
    };
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name, RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    let subnet = ClientSubnet::new(IpAddr::V4(client.address), 24, 0);
    edns.options_mut().insert(EdnsOption::Subnet(subnet));
    message.set_edns(edns);
    let Ok(packet) = message.to_vec() else {
        return Vec::new();
    };
    let Ok(socket) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else {
        return Vec::new();
    };
    if socket.send_to(&packet, server).await.is_err() {
        return Vec::new();
    }
    let mut buffer = [0u8; 1500];
    let received = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buffer)).await;
    let Ok(Ok(len)) = received else {
        return Vec::new();
    };
    let Ok(response) = Message::from_vec(&buffer[..len]) else {
        return Vec::new();
    };
    if response.metadata.id != id {
        return Vec::new();
    }
    response
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}
