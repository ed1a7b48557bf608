//! Cascade answers as the read-path load generator takes them: checked,
//! but decoded only as far as the check needs.
//!
//! The load generator shares the machine's cores with the server. Built
//! in full, the 10 to 30 nodes of each answer (five or six strings each)
//! cost the client about as much CPU again as the server spends
//! answering, and that CPU is taken from the server the figure is about.
//! So each answer is read through a message that keeps only what the
//! check looks at: protobuf skips the other fields by their length. The
//! tags are the API's own; a test below holds them to the generated
//! messages. `--decode-answers` builds every answer in full instead.

use anyhow::{Context, bail};
use prost::Message;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;
use trellis_proto::cascade::v1::{GetAlignmentPathRequest, ListAlignedDescendantsRequest};

use crate::target::BenchChannel as Channel;

/// An `AlignmentPath` read as far as the name of its start.
#[derive(Clone, PartialEq, Message)]
pub struct PathStart {
    #[prost(message, optional, tag = "1")]
    pub start: Option<NodeName>,
}

/// A `GraphNode` read as far as its name.
#[derive(Clone, PartialEq, Message)]
pub struct NodeName {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// A `ListAlignedDescendantsResponse` read as far as its total.
#[derive(Clone, PartialEq, Message)]
pub struct DescendantsTotal {
    #[prost(int32, tag = "3")]
    pub total_size: i32,
}

const PATH: &str = "/trellis.cascade.v1.CascadeService/GetAlignmentPath";
const DESCENDANTS: &str = "/trellis.cascade.v1.CascadeService/ListAlignedDescendants";

async fn unary<Q, A>(channel: Channel, method: &'static str, request: Q) -> anyhow::Result<A>
where
    Q: Message + Send + Sync + 'static,
    A: Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.context("the channel is not ready")?;
    let answer = grpc
        .unary(
            tonic::Request::new(request),
            PathAndQuery::from_static(method),
            ProstCodec::<Q, A>::default(),
        )
        .await?;
    Ok(answer.into_inner())
}

/// Asks for a node's path and checks that the answer starts at it.
pub async fn path(channel: Channel, request: GetAlignmentPathRequest) -> anyhow::Result<()> {
    let asked = request.name.clone();
    let answer: PathStart = unary(channel, PATH, request).await?;
    let start = answer.start.map(|start| start.name).unwrap_or_default();
    if start != asked {
        bail!("the path of {asked} starts at {start:?}");
    }
    Ok(())
}

/// Asks for a node's descendants and checks that it has some.
pub async fn descendants(channel: Channel, request: ListAlignedDescendantsRequest) -> anyhow::Result<()> {
    let asked = request.name.clone();
    let answer: DescendantsTotal = unary(channel, DESCENDANTS, request).await?;
    if answer.total_size <= 0 {
        bail!("{asked} shows no descendants");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_proto::cascade::v1::{AlignmentPath, AlignmentRoute, GraphNode, ListAlignedDescendantsResponse};

    fn node(name: &str) -> GraphNode {
        GraphNode {
            name: name.to_owned(),
            title: "Grow EMEA".into(),
            owner: "orgUnits/emea".into(),
            via: "objectives/above".into(),
            progress: Some(0.5),
            depth: 2,
            ..GraphNode::default()
        }
    }

    #[test]
    fn a_path_reads_as_its_start() {
        let full = AlignmentPath {
            start: Some(node("keyResults/kr-1")),
            routes: vec![AlignmentRoute {
                nodes: vec![node("keyResults/kr-1"), node("objectives/o-1")],
            }],
            routes_truncated: true,
            org_path: vec![node("orgUnits/emea")],
        };
        let read = PathStart::decode(full.encode_to_vec().as_slice()).expect("a path decodes");
        assert_eq!(read.start.map(|start| start.name).as_deref(), Some("keyResults/kr-1"));
    }

    #[test]
    fn descendants_read_as_their_total() {
        let full = ListAlignedDescendantsResponse {
            nodes: vec![node("objectives/o-1"), node("keyResults/kr-1")],
            next_page_token: "next".into(),
            total_size: 27,
        };
        let read = DescendantsTotal::decode(full.encode_to_vec().as_slice()).expect("descendants decode");
        assert_eq!(read.total_size, 27);
    }
}
