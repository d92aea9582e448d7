//! `jiceng bench linkage`: links incoming records to a registry from files made
//! elsewhere, with a model trained on those two files alone, and scores the best match
//! of each incoming record against the truth.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use jiceng_domain::linkage::blocking::RULES;
use jiceng_domain::linkage::{FIELDS, Features, LinkRecord, Linker, Outcome, Settings};
use serde::Serialize;

use crate::exchange::bench::peak_rss_mb;

#[derive(Debug, Serialize)]
pub struct LinkageBench {
    pub seconds: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub pairs_compared: u64,
    pub peak_rss_mb: f64,
    pub registry: usize,
    pub incoming: usize,
    pub matches: usize,
    pub possible: usize,
    /// Pairs each blocking rule brought.
    pub blocking: Vec<BlockingLine>,
    /// Seconds of each step: reading, features, index, comparing, training, deciding.
    pub steps: Vec<(&'static str, f64)>,
}

#[derive(Debug, Serialize)]
pub struct BlockingLine {
    pub rule: &'static str,
    pub pairs: u64,
    pub oversized_blocks: u64,
}

/// Record IDs end to end in one string: a registry of millions holds no string each.
#[derive(Default)]
struct Ids {
    text: String,
    ends: Vec<usize>,
}

impl Ids {
    fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Records a chunk of the reader hands to the workers.
const CHUNK: usize = 8_192;

/// Reads a file's records and works out their features on `threads` workers while the
/// reader goes on; only IDs and features are kept.
fn read_features(path: &Path, id_column: &str, threads: usize) -> anyhow::Result<(Ids, Vec<Features>)> {
    use std::sync::{Arc, Mutex, mpsc};
    let (chunks_tx, chunks_rx) = mpsc::sync_channel::<(usize, Vec<LinkRecord>)>(threads * 2);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<Features>)>();
    // Held by the workers alone: if they all stop, the reader's next send fails
    // instead of waiting for ever.
    let chunks_rx = Arc::new(Mutex::new(chunks_rx));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let chunks_rx = Arc::clone(&chunks_rx);
            scope.spawn(move || {
                loop {
                    let next = chunks_rx.lock().map_err(|_| ()).and_then(|rx| rx.recv().map_err(|_| ()));
                    let Ok((n, records)) = next else { break };
                    let _ = done_tx.send((n, records.iter().map(Features::of).collect()));
                }
            });
        }
        drop(done_tx);
        drop(chunks_rx);
        let reader = scope.spawn(move || {
            let mut ids = Ids::default();
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut n = 0;
            let read = jiceng_files::linkage::read_each(path, id_column, |id, record| {
                ids.push(id);
                chunk.push(record);
                if chunk.len() == CHUNK {
                    let _ = chunks_tx.send((n, std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))));
                    n += 1;
                }
            });
            if !chunk.is_empty() {
                let _ = chunks_tx.send((n, chunk));
            }
            read.map(|_| ids)
        });
        // Chunks are appended in order as they come, so that the features are never held
        // twice (a registry's are 400 MB).
        let mut features = Vec::new();
        let mut waiting = std::collections::BTreeMap::new();
        for (n, part) in done_rx.iter() {
            waiting.insert(n, part);
            while let Some(part) = waiting.remove(&(features.len() / CHUNK)) {
                features.extend(part);
            }
        }
        let ids = reader.join().map_err(|_| anyhow::anyhow!("读取线程失败 / the reader thread failed"))??;
        if !waiting.is_empty() || features.len() != ids.len() {
            anyhow::bail!("特征计算线程失败 / a features worker failed ({} of {} records)", features.len(), ids.len());
        }
        Ok((ids, features))
    })
}

pub fn run(
    registry: &Path,
    incoming: &Path,
    truth_path: &Path,
    matches: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let settings = Settings::default();
    let start = Instant::now();
    let mut steps = Vec::new();
    let mut step = |name: &'static str, since: &mut Instant| {
        steps.push((name, since.elapsed().as_secs_f64()));
        *since = Instant::now();
    };
    let mut since = Instant::now();
    // The truth file is read, and its form checked, before anything is linked; it is
    // not used to link.
    let truth_rows = jiceng_files::linkage::read_truth(truth_path)?;
    let spinner = crate::progress::spinner("读取 Reading");
    let (r, rf) = read_features(registry, "person_id", threads)?;
    let (i, inf) = read_features(incoming, "incoming_id", threads)?;
    step("read and features", &mut since);
    spinner.set_message("索引 Blocking index");
    let index = jiceng_domain::linkage::RegistryIndex::build(rf);
    let linker = Linker::new(&index);
    step("index", &mut since);
    spinner.set_message("比较 Comparing");
    let comparisons = linker.compare(&inf, threads);
    step("compare", &mut since);
    spinner.set_message("训练 Training");
    let model = linker.train(&inf, &comparisons, &settings);
    step("train", &mut since);
    let linked = linker.decide(&model, &inf, &comparisons, &settings);
    step("decide", &mut since);
    spinner.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();

    let truth: std::collections::HashMap<&str, Option<&str>> =
        truth_rows.iter().map(|(i, p)| (i.as_str(), p.as_deref())).collect();
    if let Some(missing) = (0..i.len()).map(|n| i.get(n)).find(|id| !truth.contains_key(id)) {
        anyhow::bail!(
            "{}: 没有来件 {missing} 的真值 / has no line for incoming record {missing}",
            truth_path.display()
        );
    }
    let mut found: Vec<(&str, &str, f64)> = Vec::new();
    let mut correct = 0usize;
    let mut possible = 0usize;
    for l in &linked {
        let incoming_id = i.get(l.incoming as usize);
        match (l.outcome, l.best) {
            (Outcome::Match, Some((row, _, _))) => {
                let person = r.get(row as usize);
                if truth.get(incoming_id).copied().flatten() == Some(person) {
                    correct += 1;
                }
                found.push((incoming_id, person, l.probability));
            }
            (Outcome::Possible, _) => possible += 1,
            _ => {}
        }
    }
    let actual = (0..i.len()).filter(|&n| truth.get(i.get(n)).copied().flatten().is_some()).count();
    let precision = if found.is_empty() { 0.0 } else { correct as f64 / found.len() as f64 };
    let recall = if actual == 0 { 0.0 } else { correct as f64 / actual as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    if let Some(path) = matches {
        let file = std::fs::File::create(path).with_context(|| format!("{}", path.display()))?;
        jiceng_files::linkage::write_matches(std::io::BufWriter::new(file), &path.display().to_string(), &found)?;
    }
    let result = LinkageBench {
        seconds,
        precision,
        recall,
        f1,
        pairs_compared: comparisons.counts.compared,
        peak_rss_mb: peak_rss_mb(),
        registry: r.len(),
        incoming: i.len(),
        matches: found.len(),
        possible,
        blocking: RULES
            .iter()
            .enumerate()
            .map(|(n, rule)| BlockingLine {
                rule: rule.label_en(),
                pairs: comparisons.counts.pairs[n],
                oversized_blocks: comparisons.counts.oversized[n],
            })
            .collect(),
        steps,
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    println!("记录匹配 Record linkage: {} registry × {} incoming", result.registry, result.incoming);
    println!("  用时 seconds {:.2}   峰值内存 peak RSS {:.0} MB", result.seconds, result.peak_rss_mb);
    println!(
        "  精确率 precision {:.4}   召回率 recall {:.4}   F1 {:.4}   匹配 matches {}   待审核 possible {}",
        precision, recall, f1, result.matches, possible
    );
    println!("  比较的记录对 pairs compared {}", result.pairs_compared);
    for (rule, line) in RULES.iter().zip(&result.blocking) {
        println!(
            "    {} / {}: {} pairs, {} oversized blocks left out",
            rule.label_zh(),
            line.rule,
            line.pairs,
            line.oversized_blocks
        );
    }
    for (name, s) in &result.steps {
        println!("    {name}: {s:.2} s");
    }
    println!("  模型 model (match weight log₂ m/u per level; prior {:.3e})", model.prior);
    for field in FIELDS {
        let p = model.field(field);
        let levels: Vec<String> = field
            .levels()
            .iter()
            .enumerate()
            .map(|(n, (_, en))| format!("{en} {:+.1}", p.weight((n + 1) as u8)))
            .collect();
        println!("    {} / {}: {}", field.label_zh(), field.label_en(), levels.join(", "));
    }
    Ok(())
}
