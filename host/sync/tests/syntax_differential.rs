//! The validator's own JSON scanner must accept exactly what `serde_json`
//! accepts: texts are generated (escapes, non-ASCII, numbers of every shape,
//! nesting), then broken byte by byte, and both judge every one.

use serde_json::Value;
use switchyard_sync::schema::check_syntax;

mod common;

use common::Lcg;

const STRINGS: [&str; 12] = [
    r#""""#,
    r#""plain""#,
    r#""a longer string that spans several eight-byte words""#,
    r#""q\"uote""#,
    r#""back\\slash""#,
    r#""\/\b\f\n\r\t""#,
    r#""\u00e9\u4e2d""#,
    r#""\ud83d\ude00""#,
    "\"caf\u{e9} \u{1F600}\"",
    r#""\ud800""#,
    r#""\udc00x""#,
    "\"tab\there\"",
];

const NUMBERS: [&str; 16] = [
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "-0.25",
    "1e3",
    "1E-3",
    "2.5e+10",
    "123456789012345678901234567890",
    "1e400",
    "01",
    "1.",
    ".5",
    "-",
    "1e",
];

const LITERALS: [&str; 6] = ["true", "false", "null", "tru", "nul", "True"];

/// Appends one of `choices`.
fn push_one(out: &mut String, rng: &mut Lcg, choices: &[&str]) {
    let choice = rng.pick(choices);
    out.push_str(choice);
}

fn value(rng: &mut Lcg, depth: usize, out: &mut String) {
    let whitespace = [" ", "", "\n", "\t", "\r\n "];
    push_one(out, rng, &whitespace);
    match if depth > 4 {
        rng.below(3)
    } else {
        rng.below(5)
    } {
        0 => push_one(out, rng, &STRINGS),
        1 => push_one(out, rng, &NUMBERS),
        2 => push_one(out, rng, &LITERALS),
        3 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                value(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                push_one(out, rng, &STRINGS[..9]);
                push_one(out, rng, &whitespace);
                out.push(':');
                value(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
    push_one(out, rng, &whitespace);
}

/// Replaces, inserts or deletes one character.
fn damage(rng: &mut Lcg, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let bytes = [
        '{', '}', '[', ']', ',', ':', '"', '\\', 'u', '0', '9', '-', '.', 'e', ' ', '\u{1}', 'x',
        '\u{e9}',
    ];
    let at = rng.below(chars.len() + 1);
    let mut out: Vec<char> = chars.clone();
    match rng.below(3) {
        0 if at < out.len() => out[at] = *rng.pick(&bytes),
        1 if at < out.len() => {
            out.remove(at);
        }
        _ => out.insert(at, *rng.pick(&bytes)),
    }
    out.into_iter().collect()
}

#[test]
fn the_scanner_accepts_exactly_what_serde_json_accepts() {
    let mut rng = Lcg(0x5eed);
    let (mut valid, mut invalid) = (0, 0);
    for round in 0..60_000 {
        let mut text = String::new();
        value(&mut rng, 0, &mut text);
        if round % 2 == 1 {
            text = damage(&mut rng, &text);
        }
        let reference = serde_json::from_str::<Value>(&text).is_ok();
        let ours = check_syntax(&text, None);
        assert_eq!(
            ours.is_ok(),
            reference,
            "{text:?}: scanner {ours:?}, serde_json {reference}"
        );
        if reference {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    // Both kinds were exercised in numbers.
    assert!(
        valid > 10_000 && invalid > 10_000,
        "{valid} valid, {invalid} invalid"
    );
}
