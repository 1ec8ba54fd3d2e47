//! The human-readable API reference at `/docs`: one self-contained HTML page
//! rendered from the OpenAPI document (no scripts, no CDN: it works offline
//! and under a strict content security policy).

use crate::connect::escape;
use serde_json::Value;
use std::fmt::Write as _;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Operations of one tag: (method, path, operation).
type Operations<'a> = Vec<(String, String, &'a Value)>;

/// Follows a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/")
            .map(|path| path.split('/').fold(doc, |node, part| &node[part]))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The example of a media type: its own, or its schema's.
pub(crate) fn example<'a>(doc: &'a Value, media: &'a Value) -> Option<&'a Value> {
    if let Some(example) = media.get("example") {
        return Some(example);
    }
    if let Some(example) = media
        .get("examples")
        .and_then(Value::as_object)
        .and_then(|all| all.values().next())
        .and_then(|e| e.get("value"))
    {
        return Some(example);
    }
    let schema = resolve(doc, media.get("schema")?);
    schema
        .get("example")
        .or_else(|| schema.get("examples").and_then(|e| e.get(0)))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Renders the reference page.
pub fn render(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\
         <h1>{}</h1><p>{}</p><p>Version {} · <a href=\"/openapi.json\">openapi.json</a> · \
         Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>. Errors share one \
         envelope: <code>{{\"error\": {{\"code\", \"message\", \"request_id\", \"details\"}}}}</code>.</p>",
        escape(title),
        escape(title),
        escape(doc["info"]["description"].as_str().unwrap_or_default()),
        escape(doc["info"]["version"].as_str().unwrap_or_default()),
    );
    let mut by_tag: Vec<(String, Operations<'_>)> = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let tag = operation["tags"][0].as_str().unwrap_or("other").to_string();
                let entry = (method.to_uppercase(), path.clone(), operation);
                match by_tag.iter_mut().find(|(t, _)| *t == tag) {
                    Some((_, operations)) => operations.push(entry),
                    None => by_tag.push((tag, vec![entry])),
                }
            }
        }
    }
    html.push_str("<nav><ul>");
    for (tag, operations) in &by_tag {
        let _ = write!(html, "<li>{}<ul>", escape(tag));
        for (method, path, operation) in operations {
            let _ = write!(
                html,
                "<li><a href=\"#{}\"><b>{method}</b> {}</a></li>",
                escape(operation["operationId"].as_str().unwrap_or_default()),
                escape(path)
            );
        }
        html.push_str("</ul></li>");
    }
    html.push_str("</ul></nav>");
    for (tag, operations) in &by_tag {
        let _ = write!(html, "<h2>{}</h2>", escape(tag));
        for (method, path, operation) in operations {
            operation_html(&mut html, doc, method, path, operation);
        }
    }
    html.push_str("</main></body></html>");
    html
}

fn operation_html(html: &mut String, doc: &Value, method: &str, path: &str, operation: &Value) {
    let _ = write!(
        html,
        "<section id=\"{}\"><h3><span class=\"method {}\">{method}</span> <code>{}</code></h3>",
        escape(operation["operationId"].as_str().unwrap_or_default()),
        method.to_lowercase(),
        escape(path)
    );
    for key in ["summary", "description"] {
        if let Some(text) = operation[key].as_str() {
            for paragraph in text.split("\n\n") {
                let _ = write!(html, "<p>{}</p>", escape(paragraph));
            }
        }
    }
    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        html.push_str("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>");
        for parameter in parameters {
            let _ = write!(
                html,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                escape(parameter["name"].as_str().unwrap_or_default()),
                if parameter["required"] == true {
                    " (required)"
                } else {
                    ""
                },
                escape(parameter["in"].as_str().unwrap_or_default()),
                escape(parameter["description"].as_str().unwrap_or_default()),
            );
        }
        html.push_str("</table>");
    }
    if let Some((media_type, media)) = operation["requestBody"]["content"]
        .as_object()
        .and_then(|c| c.iter().next())
    {
        let _ = write!(
            html,
            "<h4>Request body <small>{}</small></h4>",
            escape(media_type)
        );
        if let Some(example) = example(doc, media) {
            let _ = write!(html, "<pre>{}</pre>", escape(&pretty(example)));
        }
    }
    if let Some(responses) = operation["responses"].as_object() {
        html.push_str("<h4>Responses</h4>");
        for (status, response) in responses {
            let _ = write!(
                html,
                "<p><b>{}</b> {}</p>",
                escape(status),
                escape(response["description"].as_str().unwrap_or_default())
            );
            if let Some(media) = response["content"]
                .as_object()
                .and_then(|c| c.values().next())
                && let Some(example) = example(doc, media)
            {
                let _ = write!(html, "<pre>{}</pre>", escape(&pretty(example)));
            }
        }
    }
    html.push_str("</section>");
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330}\
main{max-width:60rem;margin:0 auto;padding:1rem 1.5rem}\
section{border-top:1px solid #dde;padding:.5rem 0}\
pre{background:#f4f5f8;padding:.6rem;overflow:auto;font-size:13px}\
table{border-collapse:collapse}td,th{border:1px solid #dde;padding:.2rem .5rem;text-align:left}\
.method{display:inline-block;min-width:4rem;font-size:13px;padding:.1rem .4rem;border-radius:3px;background:#e3e8f4}\
.post{background:#e0f2e9}.delete{background:#f8e0e0}.patch,.put{background:#f6eed8}\
nav ul{margin:.2rem 0}";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_operations_and_escapes_text() {
        let doc = json!({
            "info": {"title": "T <x>", "version": "1"},
            "paths": {"/v1/a/{id}": {"get": {
                "operationId": "get_a", "tags": ["things"], "summary": "Get <a>",
                "parameters": [{"name": "id", "in": "path", "required": true, "description": "The id"}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}
            }}},
            "components": {"schemas": {"A": {"type": "object", "example": {"id": "<1>"}}}}
        });
        let html = render(&doc);
        assert!(html.contains("T &lt;x&gt;"));
        assert!(html.contains("Get &lt;a&gt;"));
        assert!(
            html.contains("&quot;id&quot;: &quot;&lt;1&gt;&quot;"),
            "{html}"
        );
        assert!(html.contains("<a href=\"#get_a\"><b>GET</b> /v1/a/{id}</a>"));
        assert!(!html.contains("<script"));
    }
}
