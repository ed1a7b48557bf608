//! gRPC server reflection (v1), answered from the descriptor pool: a file
//! asked for, by name or by a symbol it holds, comes with every file it
//! depends on, transitively, as the reflection protocol describes, so a
//! client such as grpcurl can build every message type from one answer.
//! (tonic-reflection sends the file alone.)

use std::{collections::HashSet, pin::Pin};

use futures::{Stream, StreamExt};
use prost::Message;
use prost_reflect::{DescriptorPool, FileDescriptor};
use tonic::{Request, Response, Status, Streaming};
use tonic_reflection::pb::v1::{
    ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse, ServerReflectionRequest,
    ServerReflectionResponse, ServiceResponse,
    server_reflection_request::MessageRequest,
    server_reflection_response::MessageResponse,
    server_reflection_server::{ServerReflection, ServerReflectionServer},
};

/// The reflection service over `pool`.
pub fn service(pool: DescriptorPool) -> ServerReflectionServer<Reflection> {
    ServerReflectionServer::new(Reflection { pool })
}

pub struct Reflection {
    pool: DescriptorPool,
}

type Answers = Pin<Box<dyn Stream<Item = Result<ServerReflectionResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ServerReflection for Reflection {
    type ServerReflectionInfoStream = Answers;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<ServerReflectionRequest>>,
    ) -> Result<Response<Answers>, Status> {
        let pool = self.pool.clone();
        let mut requests = request.into_inner();
        let answers = async_stream::stream! {
            while let Some(request) = requests.next().await {
                let request = match request {
                    Ok(request) => request,
                    Err(status) => {
                        yield Err(status);
                        return;
                    }
                };
                let message_response = match answer(&pool, request.message_request.clone()) {
                    Ok(answer) => answer,
                    Err(status) => {
                        yield Err(status);
                        return;
                    }
                };
                yield Ok(ServerReflectionResponse {
                    valid_host: request.host.clone(),
                    original_request: Some(request),
                    message_response: Some(message_response),
                });
            }
        };
        Ok(Response::new(Box::pin(answers)))
    }
}

fn answer(pool: &DescriptorPool, request: Option<MessageRequest>) -> Result<MessageResponse, Status> {
    let Some(request) = request else {
        return Err(Status::invalid_argument("the reflection request is empty"));
    };
    Ok(match request {
        MessageRequest::FileByFilename(name) => {
            let file = pool.get_file_by_name(&name).ok_or_else(|| {
                Status::not_found(format!("no file {}", trellis_foundation::error::for_message(&name)))
            })?;
            files_with_dependencies(&file)
        }
        MessageRequest::FileContainingSymbol(symbol) => {
            let file = file_of(pool, &symbol).ok_or_else(|| {
                Status::not_found(format!("no symbol {}", trellis_foundation::error::for_message(&symbol)))
            })?;
            files_with_dependencies(&file)
        }
        MessageRequest::FileContainingExtension(_) => {
            return Err(Status::not_found("no extensions are defined"));
        }
        // Answered with none rather than an error: some clients (grpcurl)
        // ask for every type and stop at the first error.
        MessageRequest::AllExtensionNumbersOfType(base_type_name) => {
            MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                base_type_name,
                extension_number: Vec::new(),
            })
        }
        MessageRequest::ListServices(_) => MessageResponse::ListServicesResponse(ListServiceResponse {
            service: pool
                .services()
                .map(|service| ServiceResponse {
                    name: service.full_name().to_owned(),
                })
                .collect(),
        }),
    })
}

/// The file that defines `symbol`: a service, a message, an enum, or a
/// method, field or enum value within one.
fn file_of(pool: &DescriptorPool, symbol: &str) -> Option<FileDescriptor> {
    let defined = |name: &str| {
        pool.get_service_by_name(name)
            .map(|service| service.parent_file())
            .or_else(|| pool.get_message_by_name(name).map(|message| message.parent_file()))
            .or_else(|| pool.get_enum_by_name(name).map(|enumeration| enumeration.parent_file()))
    };
    defined(symbol).or_else(|| {
        let (parent, _) = symbol.rsplit_once('.')?;
        defined(parent)
    })
}

/// `file` first, then every file it depends on, transitively, each once.
fn files_with_dependencies(file: &FileDescriptor) -> MessageResponse {
    let mut seen = HashSet::new();
    let mut pending = vec![file.clone()];
    let mut encoded = Vec::new();
    while let Some(next) = pending.pop() {
        if !seen.insert(next.name().to_owned()) {
            continue;
        }
        encoded.push(next.file_descriptor_proto().encode_to_vec());
        pending.extend(next.dependencies());
    }
    MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
        file_descriptor_proto: encoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(trellis_proto::FILE_DESCRIPTOR_SET).unwrap_or_default()
    }

    fn names(response: MessageResponse) -> Vec<String> {
        let MessageResponse::FileDescriptorResponse(files) = response else {
            return Vec::new();
        };
        files
            .file_descriptor_proto
            .iter()
            .filter_map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok())
            .map(|file| file.name().to_owned())
            .collect()
    }

    #[test]
    fn a_symbol_comes_with_its_transitive_dependencies() {
        let request = MessageRequest::FileContainingSymbol("trellis.okr.v1.OkrService.ImportSeason".into());
        let files = answer(&pool(), Some(request)).map(names).unwrap_or_default();
        assert_eq!(files.first().map(String::as_str), Some("trellis/okr/v1/okr.proto"));
        for dependency in [
            "trellis/common/v1/validation.proto",
            "trellis/feed/v1/feed.proto",
            "google/protobuf/any.proto",
            "google/protobuf/timestamp.proto",
        ] {
            assert!(
                files.iter().any(|file| file == dependency),
                "{dependency} missing from {files:?}"
            );
        }
        let unique: HashSet<&String> = files.iter().collect();
        assert_eq!(unique.len(), files.len());
    }

    #[test]
    fn unknown_symbols_and_files_are_not_found() {
        let symbol = answer(&pool(), Some(MessageRequest::FileContainingSymbol("no.Such".into())));
        assert_eq!(symbol.err().map(|status| status.code()), Some(tonic::Code::NotFound));
        let file = answer(&pool(), Some(MessageRequest::FileByFilename("nope.proto".into())));
        assert_eq!(file.err().map(|status| status.code()), Some(tonic::Code::NotFound));
    }
}
