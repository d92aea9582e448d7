//! `jiceng id check`: validates identity numbers and shows what they say.

use std::collections::HashMap;
use std::io::BufRead;

use jiceng_domain::registry::{IdNumber, Sex};
use jiceng_store::org::reference;
use serde::Serialize;

#[derive(Serialize)]
struct Checked<'a> {
    input: &'a str,
    valid: bool,
    normalized: Option<String>,
    birth_date: Option<String>,
    sex: Option<&'static str>,
    county: Option<String>,
    error: Option<String>,
}

/// Checks each ID (from `ids`, or one per line of standard input when empty).
/// Returns whether every one was valid.
pub fn run(ids: &[String], json: bool) -> anyhow::Result<bool> {
    let inputs: Vec<String> =
        if ids.is_empty() { std::io::stdin().lock().lines().collect::<Result<_, _>>()? } else { ids.to_vec() };
    let names: HashMap<String, String> = if json {
        HashMap::new()
    } else {
        reference::counties()?.into_iter().map(|d| (d.code.to_string(), d.name)).collect()
    };
    let mut all_valid = true;
    for input in inputs.iter().filter(|l| !(ids.is_empty() && l.trim().is_empty())) {
        let result = IdNumber::parse(input);
        all_valid &= result.is_ok();
        if json {
            let checked = match &result {
                Ok(id) => Checked {
                    input,
                    valid: true,
                    normalized: Some(id.to_string()),
                    birth_date: Some(id.birth_date().to_string()),
                    sex: Some(if id.sex() == Sex::Male { "male" } else { "female" }),
                    county: id.issuing_region().map(|c| c.to_string()),
                    error: None,
                },
                Err(e) => Checked {
                    input,
                    valid: false,
                    normalized: None,
                    birth_date: None,
                    sex: None,
                    county: None,
                    error: Some(e.to_string()),
                },
            };
            println!("{}", serde_json::to_string(&checked)?);
        } else {
            match &result {
                Ok(id) => {
                    let region = id.issuing_region().map(|c| c.to_string()).unwrap_or_default();
                    let name = names.get(&region).map(String::as_str).unwrap_or("");
                    println!(
                        "✓ {input}  有效 valid  {id}  出生 born {}  {} {}  签发地 issued {region} {name}  {}",
                        id.birth_date(),
                        id.sex().label_zh(),
                        id.sex().label_en(),
                        id.kind().label_zh(),
                    );
                }
                Err(e) => println!("✗ {input}  无效 invalid: {e}"),
            }
        }
    }
    Ok(all_valid)
}
