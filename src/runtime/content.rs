//! MCP content as text: what a tool result, resource or prompt message says, for people (the
//! headless output, the dashboard) and later for the model. Binary parts are described, not
//! dumped. Text is returned as the server sent it; callers sanitize before drawing.

use rmcp::model::{ContentBlock, ResourceContents};

/// One content block as text.
pub fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!(
            "[image: {}, {} bytes of base64]",
            image.mime_type,
            image.data.len()
        ),
        ContentBlock::Audio(audio) => format!(
            "[audio: {}, {} bytes of base64]",
            audio.mime_type,
            audio.data.len()
        ),
        ContentBlock::Resource(embedded) => resource_text(&embedded.resource),
        ContentBlock::ResourceLink(link) => {
            format!("[resource link: {} ({})]", link.uri, link.name)
        }
        // rmcp's content union is non-exhaustive: a newer kind is shown as its JSON.
        #[allow(unreachable_patterns)]
        other => serde_json::to_string(other).unwrap_or_else(|_| "[unknown content]".to_owned()),
    }
}

/// All blocks, one after another, separated by newlines.
pub fn blocks_text(blocks: &[ContentBlock]) -> String {
    blocks.iter().map(block_text).collect::<Vec<_>>().join("\n")
}

/// A resource's contents as text (blobs are described).
pub fn resource_text(contents: &ResourceContents) -> String {
    match contents {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        ResourceContents::BlobResourceContents {
            uri,
            mime_type,
            blob,
            ..
        } => format!(
            "[binary resource {uri}: {}, {} bytes of base64]",
            mime_type.as_deref().unwrap_or("unknown type"),
            blob.len()
        ),
        #[allow(unreachable_patterns)]
        other => serde_json::to_string(other).unwrap_or_else(|_| "[unknown resource]".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_every_kind_of_block() {
        let blocks: Vec<ContentBlock> = serde_json::from_value(json!([
            {"type": "text", "text": "hello"},
            {"type": "image", "data": "aGk=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "a://b", "text": "inner"}},
            {"type": "resource", "resource": {"uri": "a://c", "blob": "AAAA", "mimeType": "application/octet-stream"}},
            {"type": "resource_link", "uri": "a://d", "name": "d"}
        ]))
        .expect("valid content");
        assert_eq!(
            blocks_text(&blocks),
            "hello\n[image: image/png, 4 bytes of base64]\ninner\n\
             [binary resource a://c: application/octet-stream, 4 bytes of base64]\n\
             [resource link: a://d (d)]"
        );
    }
}
