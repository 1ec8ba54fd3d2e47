//! A JSON Schema validator compiled for the ingest path.
//!
//! It checks record text directly while scanning it (`scan.rs`) — no
//! `serde_json::Value` is built — which makes validation about as cheap as
//! a syntax check. It supports the keywords the unified models use and
//! refuses to compile a schema with any other keyword, so a bundled schema
//! is never half enforced. A differential test checks it against the
//! `jsonschema` crate.

pub use crate::scan::SyntaxError;
use crate::scan::{Scanner, Start};
use regex::Regex;
use serde_json::Value;
use std::fmt;

/// Keywords that only annotate and are ignored by validation.
const ANNOTATIONS: [&str; 7] = [
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
];

/// Errors kept per record: enough to explain it, bounded for hostile input.
const MAX_ERRORS: usize = 5;

/// Deepest nesting followed; deeper values are rejected (as not JSON the
/// host takes) rather than risk exhausting the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DateTime,
    Date,
}

/// JSON types, as bits.
mod types {
    pub const NULL: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const INTEGER: u8 = 4;
    pub const NUMBER: u8 = 8 | INTEGER;
    pub const STRING: u8 = 16;
    pub const ARRAY: u8 = 32;
    pub const OBJECT: u8 = 64;
    pub const ANY: u8 = 0xFF;
}

/// One compiled (sub)schema.
#[derive(Debug)]
struct Node {
    types: u8,
    enumeration: Option<Vec<Value>>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    format: Option<Format>,
    pattern: Option<Regex>,
    properties: Vec<Property>,
    /// `properties`' names, packed for the lookup every key of every record
    /// makes (a `Property` holds a whole `Node`: walking those would touch a
    /// cache line per property).
    property_keys: Vec<PropertyKey>,
    required: Vec<String>,
    /// Indexes into `required` of names with no entry in `properties`.
    required_elsewhere: Vec<usize>,
    additional_properties: bool,
    items: Option<Box<Node>>,
    max_items: Option<usize>,
}

impl Node {
    fn property(&self, key: &str) -> Option<&Property> {
        let wanted = PropertyKey::of(key);
        self.property_keys
            .iter()
            .zip(&self.properties)
            // Equal length and first eight bytes: only longer names need the
            // rest compared.
            .find(|(k, p)| **k == wanted && (key.len() <= 8 || p.name == key))
            .map(|(_, p)| p)
    }
}

/// A property name's length and first eight bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PropertyKey {
    len: usize,
    head: u64,
}

impl PropertyKey {
    fn of(name: &str) -> Self {
        // Byte by byte: a `memcpy` of a variable length into an array read
        // back as one word stalls on store forwarding.
        let head = name
            .bytes()
            .take(8)
            .enumerate()
            .fold(0u64, |head, (i, byte)| head | u64::from(byte) << (8 * i));
        PropertyKey {
            len: name.len(),
            head,
        }
    }
}

/// A named property of an object schema.
#[derive(Debug)]
struct Property {
    name: String,
    node: Node,
    /// Its index in the object's `required` list, if required.
    required_index: Option<usize>,
}

/// A compiled schema.
#[derive(Debug)]
pub struct CompiledSchema {
    root: Node,
}

/// What validating one record found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Violations, at most a few, each with its JSON pointer.
    pub errors: Vec<String>,
    /// The top-level `id`, when it is a string (with
    /// [`CompiledSchema::validate_record`]: only when it differs from the
    /// expected id).
    pub id: Option<String>,
    /// Whether the top-level value is an object.
    pub is_object: bool,
}

impl CompiledSchema {
    /// Compiles `schema`; fails on keywords it does not enforce.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        Ok(CompiledSchema {
            root: compile(schema, "")?,
        })
    }

    /// Parses and validates `json` in one pass. `Err` means the text is not
    /// JSON at all; schema violations are in the report.
    pub fn validate(&self, json: &str) -> Result<Report, SyntaxError> {
        validate_with(Some(&self.root), json, None)
    }

    /// Like [`Self::validate`] for a record that should have `expected_id`:
    /// the report's `id` is set only when the record's differs, which
    /// spares an allocation per record on the ingest path.
    pub fn validate_record(&self, json: &str, expected_id: &str) -> Result<Report, SyntaxError> {
        validate_with(Some(&self.root), json, Some(expected_id))
    }
}

/// Checks only that `json` is JSON, reporting whether it is an object and
/// its top-level `id`: for models without a schema.
pub fn check_syntax(json: &str, expected_id: Option<&str>) -> Result<Report, SyntaxError> {
    validate_with(None, json, expected_id)
}

fn validate_with(
    root: Option<&Node>,
    json: &str,
    expected_id: Option<&str>,
) -> Result<Report, SyntaxError> {
    let mut report = Report::default();
    let mut scanner = Scanner::new(json);
    Check {
        node: root,
        path: &Path::Root,
        report: &mut report,
        depth: 0,
        captures_id: false,
        expected_id,
    }
    .value(&mut scanner)?;
    scanner.end()?;
    Ok(report)
}

fn compile(schema: &Value, at: &str) -> Result<Node, String> {
    let object = schema
        .as_object()
        .ok_or_else(|| format!("{at}: a schema must be an object"))?;
    let mut node = Node {
        types: types::ANY,
        enumeration: None,
        min_length: None,
        max_length: None,
        minimum: None,
        maximum: None,
        exclusive_minimum: None,
        exclusive_maximum: None,
        format: None,
        pattern: None,
        properties: Vec::new(),
        property_keys: Vec::new(),
        required: Vec::new(),
        required_elsewhere: Vec::new(),
        additional_properties: true,
        items: None,
        max_items: None,
    };
    let number = |v: &Value, k: &str| {
        v.as_f64()
            .ok_or_else(|| format!("{at}/{k}: expected a number"))
    };
    let count = |v: &Value, k: &str| {
        v.as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| format!("{at}/{k}: expected a non-negative integer"))
    };
    for (keyword, value) in object {
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "type" => {
                let names: Vec<&str> = match value {
                    Value::String(name) => vec![name.as_str()],
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    _ => return Err(format!("{at}/type: expected a string or array")),
                };
                node.types = 0;
                for name in names {
                    node.types |= match name {
                        "null" => types::NULL,
                        "boolean" => types::BOOLEAN,
                        "integer" => types::INTEGER,
                        "number" => types::NUMBER,
                        "string" => types::STRING,
                        "array" => types::ARRAY,
                        "object" => types::OBJECT,
                        other => return Err(format!("{at}/type: unknown type `{other}`")),
                    };
                }
            }
            "enum" => {
                let values = value
                    .as_array()
                    .ok_or_else(|| format!("{at}/enum: expected an array"))?;
                // Arrays and objects are never enum members here, which lets
                // the streaming check reject them without building them.
                if values.iter().any(|v| v.is_array() || v.is_object()) {
                    return Err(format!("{at}/enum: only scalar values are supported"));
                }
                node.enumeration = Some(values.clone());
            }
            "minLength" => node.min_length = Some(count(value, keyword)?),
            "maxLength" => node.max_length = Some(count(value, keyword)?),
            "minimum" => node.minimum = Some(number(value, keyword)?),
            "maximum" => node.maximum = Some(number(value, keyword)?),
            "exclusiveMinimum" => node.exclusive_minimum = Some(number(value, keyword)?),
            "exclusiveMaximum" => node.exclusive_maximum = Some(number(value, keyword)?),
            "maxItems" => node.max_items = Some(count(value, keyword)?),
            "format" => {
                node.format = Some(match value.as_str() {
                    Some("date-time") => Format::DateTime,
                    Some("date") => Format::Date,
                    other => return Err(format!("{at}/format: unsupported format {other:?}")),
                })
            }
            "pattern" => {
                let pattern = value
                    .as_str()
                    .ok_or_else(|| format!("{at}/pattern: expected a string"))?;
                node.pattern = Some(Regex::new(pattern).map_err(|e| format!("{at}/pattern: {e}"))?);
            }
            "properties" => {
                let properties = value
                    .as_object()
                    .ok_or_else(|| format!("{at}/properties: expected an object"))?;
                for (name, schema) in properties {
                    let child = compile(schema, &format!("{at}/properties/{name}"))?;
                    node.property_keys.push(PropertyKey::of(name));
                    node.properties.push(Property {
                        name: name.clone(),
                        node: child,
                        required_index: None,
                    });
                }
            }
            "required" => {
                node.required = value
                    .as_array()
                    .ok_or_else(|| format!("{at}/required: expected an array"))?
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
            }
            "additionalProperties" => {
                node.additional_properties = value.as_bool().ok_or_else(|| {
                    format!("{at}/additionalProperties: only true or false are supported")
                })?;
            }
            "items" => node.items = Some(Box::new(compile(value, &format!("{at}/items"))?)),
            other => return Err(format!("{at}: keyword `{other}` is not supported")),
        }
    }
    if node.required.len() > 64 {
        return Err(format!("{at}/required: at most 64 required properties"));
    }
    for (index, name) in node.required.iter().enumerate() {
        match node.properties.iter_mut().find(|p| p.name == *name) {
            Some(property) => property.required_index = Some(index),
            None => node.required_elsewhere.push(index),
        }
    }
    Ok(node)
}

/// A JSON pointer, built only when an error needs it.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(parent, key) => {
                write!(f, "{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
            }
            Path::Index(parent, index) => write!(f, "{parent}/{index}"),
        }
    }
}

struct Check<'a, 'p> {
    /// `None`: anything goes (no schema, or an unknown property).
    node: Option<&'a Node>,
    path: &'p Path<'p>,
    report: &'a mut Report,
    depth: usize,
    /// The value is the record's top-level `id`: keep it when a string.
    captures_id: bool,
    /// Keep the top-level `id` only when it differs from this.
    expected_id: Option<&'a str>,
}

impl Check<'_, '_> {
    fn fail(&mut self, message: impl fmt::Display) {
        if self.report.errors.len() < MAX_ERRORS {
            let path = self.path.to_string();
            let at = if path.is_empty() {
                "(record)".to_string()
            } else {
                path
            };
            self.report.errors.push(format!("{at}: {message}"));
        }
    }

    /// Whether `actual` is allowed; `shown` renders the value, only when an
    /// error needs it (this runs for every value of every record).
    fn check_type(&mut self, node: &Node, actual: u8, shown: impl FnOnce() -> String) -> bool {
        if node.types & actual == actual {
            return true;
        }
        self.fail(format_args!(
            "{} is not of type {}",
            shown(),
            type_names(node.types)
        ));
        false
    }

    fn check_enum(
        &mut self,
        node: &Node,
        is_member: impl Fn(&Value) -> bool,
        shown: impl FnOnce() -> String,
    ) {
        if let Some(allowed) = &node.enumeration
            && !allowed.iter().any(is_member)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            self.fail(format_args!(
                "{} is not one of {}",
                shown(),
                list.join(", ")
            ));
        }
    }

    fn check_number(&mut self, value: f64, integer: bool) {
        let Some(node) = self.node else { return };
        let actual = if integer {
            types::INTEGER
        } else {
            types::NUMBER & !types::INTEGER
        };
        if !self.check_type(node, actual, || value.to_string()) {
            return;
        }
        let bounds = [
            (
                node.minimum,
                value < node.minimum.unwrap_or(f64::MIN),
                "less than the minimum",
            ),
            (
                node.maximum,
                value > node.maximum.unwrap_or(f64::MAX),
                "greater than the maximum",
            ),
            (
                node.exclusive_minimum,
                value <= node.exclusive_minimum.unwrap_or(f64::MIN),
                "not greater than the exclusive minimum",
            ),
            (
                node.exclusive_maximum,
                value >= node.exclusive_maximum.unwrap_or(f64::MAX),
                "not less than the exclusive maximum",
            ),
        ];
        for (bound, broken, what) in bounds {
            if let Some(bound) = bound
                && broken
            {
                self.fail(format_args!("{value} is {what} {bound}"));
            }
        }
        self.check_enum(node, |v| v.as_f64() == Some(value), || value.to_string());
    }

    fn check_str(&mut self, value: &str) {
        let Some(node) = self.node else { return };
        if !self.check_type(node, types::STRING, || format!("{value:?}")) {
            return;
        }
        let length = if value.is_ascii() {
            value.len()
        } else {
            value.chars().count()
        };
        if node.min_length.is_some_and(|min| length < min) {
            self.fail(format_args!(
                "{value:?} is shorter than {} characters",
                node.min_length.unwrap_or(0)
            ));
        }
        if node.max_length.is_some_and(|max| length > max) {
            self.fail(format_args!(
                "the string is longer than {} characters",
                node.max_length.unwrap_or(0)
            ));
        }
        match node.format {
            Some(Format::DateTime) if !is_date_time(value) => {
                self.fail(format_args!("{value:?} is not a \"date-time\""));
            }
            Some(Format::Date) if !is_date(value) => {
                self.fail(format_args!("{value:?} is not a \"date\""));
            }
            _ => {}
        }
        if let Some(pattern) = &node.pattern
            && !pattern.is_match(value)
        {
            self.fail(format_args!(
                "{value:?} does not match {:?}",
                pattern.as_str()
            ));
        }
        self.check_enum(node, |v| v.as_str() == Some(value), || format!("{value:?}"));
    }
}

fn type_names(bits: u8) -> String {
    let mut names = Vec::new();
    for (bit, name) in [
        (types::NULL, "null"),
        (types::BOOLEAN, "boolean"),
        (types::STRING, "string"),
        (types::NUMBER, "number"),
        (types::ARRAY, "array"),
        (types::OBJECT, "object"),
    ] {
        if bits & bit == bit {
            names.push(name);
        }
    }
    if names.is_empty() && bits & types::INTEGER != 0 {
        names.push("integer");
    }
    names.join(" or ")
}

impl Check<'_, '_> {
    /// Scans the next value and checks it against `self.node`.
    fn value(mut self, scanner: &mut Scanner<'_>) -> Result<(), SyntaxError> {
        match scanner.value_start()? {
            Start::Object => self.object(scanner),
            Start::Array => self.array(scanner),
            Start::String => {
                let value = scanner.string()?;
                if self.captures_id && self.expected_id != Some(&*value) {
                    self.report.id = Some(value.clone().into_owned());
                }
                self.check_str(&value);
                Ok(())
            }
            Start::Number => {
                let (value, whole) = scanner.number()?;
                self.check_number(value, whole);
                Ok(())
            }
            start @ (Start::True | Start::False) => {
                let value = start == Start::True;
                scanner.literal(if value { "true" } else { "false" })?;
                if let Some(node) = self.node
                    && self.check_type(node, types::BOOLEAN, || value.to_string())
                {
                    self.check_enum(node, |v| v.as_bool() == Some(value), || value.to_string());
                }
                Ok(())
            }
            Start::Null => {
                scanner.literal("null")?;
                if let Some(node) = self.node
                    && self.check_type(node, types::NULL, || "null".into())
                {
                    self.check_enum(node, Value::is_null, || "null".into());
                }
                Ok(())
            }
        }
    }

    fn array(mut self, scanner: &mut Scanner<'_>) -> Result<(), SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return Err(scanner.error("nested too deeply"));
        }
        scanner.open();
        let node = self.node;
        // `None`: the array itself is wrong (already reported), its items go
        // unchecked; `Some(None)`: any items.
        let items = match node {
            Some(node) if self.check_type(node, types::ARRAY, || "an array".into()) => {
                if node.enumeration.is_some() {
                    self.fail("an array is not one of the allowed values");
                }
                Some(node.items.as_deref())
            }
            Some(_) => None,
            None => Some(None),
        };
        let mut index = 0;
        while scanner.next_member(b']', index == 0)? {
            let path = Path::Index(self.path, index);
            Check {
                node: items.flatten(),
                path: &path,
                report: &mut *self.report,
                depth: self.depth + 1,
                captures_id: false,
                expected_id: None,
            }
            .value(scanner)?;
            index += 1;
        }
        if let Some(max) = node.and_then(|n| n.max_items)
            && index > max
        {
            self.fail(format_args!("the array has more than {max} items"));
        }
        Ok(())
    }

    fn object(mut self, scanner: &mut Scanner<'_>) -> Result<(), SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return Err(scanner.error("nested too deeply"));
        }
        scanner.open();
        let top = self.depth == 0;
        if top {
            self.report.is_object = true;
        }
        // `None` also when the object itself is wrong (already reported):
        // its members then go unchecked.
        let current = self.node;
        let node = match current {
            Some(node) if self.check_type(node, types::OBJECT, || "an object".into()) => {
                if node.enumeration.is_some() {
                    self.fail("an object is not one of the allowed values");
                }
                Some(node)
            }
            _ => None,
        };
        let mut seen_required = 0u64;
        let mut first = true;
        while scanner.next_member(b'}', first)? {
            first = false;
            let key = scanner.key()?;
            let path = Path::Key(self.path, &key);
            let property = node.and_then(|n| n.property(&key));
            if let Some(node) = node {
                match property {
                    Some(property) => {
                        if let Some(index) = property.required_index {
                            seen_required |= 1 << index;
                        }
                    }
                    None => {
                        if !node.additional_properties {
                            self.fail(format_args!("property {key:?} is not allowed"));
                        }
                        for &index in &node.required_elsewhere {
                            if node.required[index] == *key {
                                seen_required |= 1 << index;
                            }
                        }
                    }
                }
            }
            Check {
                node: property.map(|p| &p.node),
                path: &path,
                report: &mut *self.report,
                depth: self.depth + 1,
                captures_id: top && key == "id",
                expected_id: if top { self.expected_id } else { None },
            }
            .value(scanner)?;
        }
        if let Some(node) = node {
            for (index, name) in node.required.iter().enumerate() {
                if seen_required & (1 << index) == 0 {
                    self.fail(format_args!("required property {name:?} is missing"));
                }
            }
        }
        Ok(())
    }
}

/// RFC 3339 `full-date`.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339 `date-time`: full-date "T" time with fraction and offset.
fn is_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || !is_date(&text[..10]) {
        return false;
    }
    let two = |at: usize| {
        (b[at].is_ascii_digit() && b[at + 1].is_ascii_digit())
            .then(|| u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0'))
    };
    let (Some(hour), Some(minute), Some(second)) = (two(11), two(14), two(17)) else {
        return false;
    };
    if b[13] != b':' || b[16] != b':' || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut rest = &b[19..];
    if let [b'.', fraction @ ..] = rest {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') <= 23
                && (*m1 - b'0') * 10 + (*m2 - b'0') <= 59
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2023-13-01"));
        assert!(is_date_time("2026-11-28T09:30:00Z"));
        assert!(is_date_time("2026-11-28T09:30:00.123456+01:00"));
        assert!(!is_date_time("2026-11-28T25:30:00Z"));
        assert!(!is_date_time("2026-11-28 09:30:00Z"));
        assert!(!is_date_time("2026-11-28T09:30:00"));
    }

    #[test]
    fn refuses_keywords_it_does_not_enforce() {
        let error = CompiledSchema::compile(&json!({"type": "object", "oneOf": []})).unwrap_err();
        assert!(error.contains("oneOf"), "{error}");
        assert!(CompiledSchema::compile(&json!({"format": "email"})).is_err());
        assert!(
            CompiledSchema::compile(&json!({"additionalProperties": {"type": "string"}})).is_err()
        );
    }

    #[test]
    fn reports_violations_with_pointers() {
        let schema = CompiledSchema::compile(&json!({
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "n": {"type": ["number", "null"], "minimum": 0},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                "nested": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
            },
            "required": ["id", "n"],
            "additionalProperties": false
        }))
        .unwrap();
        let report = schema
            .validate(r#"{"id":"r1","n":-1,"tags":["a","c","b"],"nested":{"x":1.5},"extra":true}"#)
            .unwrap();
        assert_eq!(report.id.as_deref(), Some("r1"));
        assert!(report.is_object);
        assert_eq!(
            report.errors,
            [
                "/n: -1 is less than the minimum 0",
                "/tags/1: \"c\" is not one of \"a\", \"b\"",
                "/tags: the array has more than 2 items",
                "/nested/x: 1.5 is not of type integer",
                "(record): property \"extra\" is not allowed",
            ]
        );
        let report = schema.validate(r#"{"n":null}"#).unwrap();
        assert_eq!(
            report.errors,
            ["(record): required property \"id\" is missing"]
        );
        // An escaped key is the same key; a record id equal to the expected
        // one is not copied out, a different one is.
        let report = schema
            .validate_record(r#"{"i\u0064":"r1","n":1}"#, "r1")
            .unwrap();
        assert_eq!((report.errors.len(), report.id), (0, None));
        let report = schema
            .validate_record(r#"{"id":"r2","n":1}"#, "r1")
            .unwrap();
        assert_eq!(report.id.as_deref(), Some("r2"));
        assert!(schema.validate("{\"id\": 1").is_err());
        assert!(schema.validate("{} trailing").is_err());
    }
}
