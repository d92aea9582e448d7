//! Synthetic linkage data with known truth: a registry, a department's records of some
//! of its people written the way departments write them (missing and mistyped ID
//! numbers, traditional characters, homophones, day and month swapped, people who
//! moved or changed phones) and of people it does not hold, some of them sharing a
//! registry person's name and year of birth.

use std::collections::HashSet;

use rand::distr::{Distribution, weighted::WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::{Date, Duration, Month};

use super::record::LinkRecord;
use crate::registry::names::{MALE_GIVEN, SURNAMES};
use crate::registry::synthetic::{mobile, person_name};
use crate::registry::{IdNumber, Sex};

/// How much to generate.
#[derive(Debug, Clone)]
pub struct LinkagePlan {
    pub registry: usize,
    pub incoming: usize,
    /// Incoming records of people not in the registry.
    pub unmatched_share: f64,
    /// The county's six digits; communities are made under it.
    pub county: String,
    pub seed: u64,
}

impl Default for LinkagePlan {
    fn default() -> Self {
        LinkagePlan { registry: 10_000, incoming: 1_000, unmatched_share: 0.2, county: "440307".into(), seed: 1 }
    }
}

/// (registry: person_id and record, incoming: incoming_id and record, truth:
/// incoming_id and the person it is, if any).
pub type LinkageData = (Vec<(String, LinkRecord)>, Vec<(String, LinkRecord)>, Vec<(String, Option<String>)>);

/// Traditional forms of characters in the name lists.
const TRADITIONAL: &[(char, char)] = &[
    ('张', '張'),
    ('伟', '偉'),
    ('刘', '劉'),
    ('陈', '陳'),
    ('杨', '楊'),
    ('黄', '黃'),
    ('赵', '趙'),
    ('吴', '吳'),
    ('孙', '孫'),
    ('马', '馬'),
    ('罗', '羅'),
    ('郑', '鄭'),
    ('谢', '謝'),
    ('许', '許'),
    ('韩', '韓'),
    ('冯', '馮'),
    ('邓', '鄧'),
    ('叶', '葉'),
    ('苏', '蘇'),
    ('吕', '呂'),
    ('卢', '盧'),
    ('钟', '鍾'),
    ('谭', '譚'),
    ('陆', '陸'),
    ('贾', '賈'),
    ('韦', '韋'),
    ('邹', '鄒'),
    ('贺', '賀'),
    ('顾', '顧'),
    ('龚', '龔'),
    ('万', '萬'),
    ('钱', '錢'),
    ('丽', '麗'),
    ('华', '華'),
    ('国', '國'),
    ('东', '東'),
    ('军', '軍'),
    ('鹏', '鵬'),
    ('飞', '飛'),
    ('龙', '龍'),
    ('兴', '興'),
    ('荣', '榮'),
    ('辉', '輝'),
    ('涛', '濤'),
    ('刚', '剛'),
    ('云', '雲'),
    ('凤', '鳳'),
    ('兰', '蘭'),
    ('红', '紅'),
    ('静', '靜'),
    ('晓', '曉'),
    ('梦', '夢'),
    ('诗', '詩'),
    ('颖', '穎'),
    ('洁', '潔'),
    ('莹', '瑩'),
    ('欢', '歡'),
    ('宁', '寧'),
    ('帅', '帥'),
    ('凯', '凱'),
    ('杰', '傑'),
    ('诚', '誠'),
    ('铭', '銘'),
    ('锦', '錦'),
];

/// Characters read alike (same pinyin, mostly same tone): what a clerk types on hearing a
/// name.
const HOMOPHONES: &[(char, char)] = &[
    ('伟', '炜'),
    ('伟', '玮'),
    ('芳', '方'),
    ('静', '婧'),
    ('丽', '莉'),
    ('强', '蔷'),
    ('磊', '蕾'),
    ('军', '君'),
    ('杰', '洁'),
    ('涛', '韬'),
    ('斌', '彬'),
    ('明', '铭'),
    ('华', '桦'),
    ('飞', '菲'),
    ('鑫', '欣'),
    ('波', '博'),
    ('宇', '雨'),
    ('浩', '昊'),
    ('健', '建'),
    ('帆', '凡'),
    ('林', '琳'),
    ('阳', '洋'),
    ('峰', '锋'),
    ('东', '冬'),
    ('文', '雯'),
    ('海', '海'),
    ('晨', '辰'),
    ('娜', '纳'),
    ('敏', '旻'),
    ('燕', '艳'),
    ('婷', '亭'),
    ('雪', '薛'),
    ('慧', '惠'),
    ('倩', '茜'),
    ('晶', '菁'),
    ('颖', '莹'),
    ('佳', '嘉'),
    ('梅', '玫'),
    ('丹', '单'),
    ('红', '虹'),
    ('英', '瑛'),
    ('秀', '绣'),
    ('兰', '岚'),
    ('凤', '峰'),
    ('美', '媚'),
    ('涵', '含'),
    ('思', '丝'),
    ('悦', '越'),
    ('曾', '增'),
    ('单', '善'),
    ('解', '谢'),
    ('仇', '球'),
    ('区', '欧'),
];

pub fn generate(plan: &LinkagePlan) -> LinkageData {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mut g = Generator::new(plan);
    let registry: Vec<(String, LinkRecord)> =
        (0..plan.registry).map(|n| (format!("P{n:08}"), g.person(&mut rng))).collect();
    let mut incoming = Vec::with_capacity(plan.incoming);
    let mut truth = Vec::with_capacity(plan.incoming);
    let mut used: HashSet<usize> = HashSet::new();
    for n in 0..plan.incoming {
        let incoming_id = format!("I{n:08}");
        let unmatched = registry.is_empty() || rng.random_bool(plan.unmatched_share.clamp(0.0, 1.0));
        if unmatched {
            let mut record = g.person(&mut rng);
            // Three in ten share a registry person's name and year of birth.
            if !registry.is_empty() && rng.random_bool(0.3) {
                let other = &registry[rng.random_range(0..registry.len())].1;
                record.name = other.name.clone();
                record.sex = other.sex;
                if let (Some(mine), Some(theirs)) = (record.birth_date, other.birth_date) {
                    record.birth_date = mine.replace_year(theirs.year()).ok().or(Some(theirs));
                }
            }
            incoming.push((incoming_id.clone(), record));
            truth.push((incoming_id, None));
        } else {
            let mut pick = rng.random_range(0..registry.len());
            // Each registry person at most once, while there are people left.
            for _ in 0..8 {
                if used.insert(pick) {
                    break;
                }
                pick = rng.random_range(0..registry.len());
            }
            let (person_id, record) = &registry[pick];
            incoming.push((incoming_id.clone(), g.as_written_elsewhere(&mut rng, record)));
            truth.push((incoming_id, Some(person_id.clone())));
        }
    }
    (registry, incoming, truth)
}

struct Generator {
    county: String,
    surnames: WeightedIndex<u32>,
    issued: HashSet<String>,
    communities: usize,
}

impl Generator {
    fn new(plan: &LinkagePlan) -> Generator {
        let surnames = WeightedIndex::new(SURNAMES.iter().map(|(_, w)| *w))
            .unwrap_or_else(|_| unreachable!("surname weights are positive constants"));
        // About 1,500 people a community, as in the district the seeds describe.
        let communities = (plan.registry / 1_500).clamp(1, 999);
        Generator { county: plan.county.clone(), surnames, issued: HashSet::new(), communities }
    }

    fn community(&self, rng: &mut ChaCha8Rng) -> String {
        let n = rng.random_range(0..self.communities);
        // Ten communities a street.
        format!("{}{:03}{:03}", self.county, 1 + n / 10, 1 + n % 10)
    }

    fn person(&mut self, rng: &mut ChaCha8Rng) -> LinkRecord {
        let sex = if rng.random_bool(0.5) { Sex::Male } else { Sex::Female };
        let surname = SURNAMES[self.surnames.sample(rng)].0;
        let name = person_name(rng, surname, sex).as_str().to_string();
        let birth = Date::from_calendar_date(1935, Month::January, 1).unwrap_or(Date::MIN)
            + Duration::days(rng.random_range(0..365 * 88));
        // Three in ten were registered elsewhere (the area code of their birthplace).
        let area = if rng.random_bool(0.3) {
            format!("{:02}{:04}", rng.random_range(11..=65), rng.random_range(100..=2999))
        } else {
            self.county.clone()
        };
        let id = loop {
            // The sequence's last digit is odd for men and even for women.
            let sequence = rng.random_range(0..500u32) * 2 + u32::from(sex == Sex::Male);
            // Six digits of area and a sequence under 1,000 always make a number.
            let Some(id) = u16::try_from(sequence).ok().and_then(|s| IdNumber::from_parts(&area, birth, s)) else {
                break None;
            };
            if self.issued.insert(id.as_str().to_string()) {
                break Some(id.as_str().to_string());
            }
        };
        let missing_id = rng.random_bool(0.03);
        LinkRecord {
            name,
            sex: Some(sex),
            birth_date: Some(birth),
            id_number: id.filter(|_| !missing_id),
            community: Some(self.community(rng)),
            phone: rng.random_bool(0.75).then(|| mobile(rng).as_str().to_string()),
        }
    }

    /// The same person as another department writes them.
    fn as_written_elsewhere(&self, rng: &mut ChaCha8Rng, person: &LinkRecord) -> LinkRecord {
        let mut r = person.clone();
        r.id_number = person.id_number.as_ref().and_then(|id| mistype_id(rng, id));
        r.name = rewrite_name(rng, &person.name);
        if rng.random_bool(0.01) {
            r.sex = None;
        }
        if let Some(d) = person.birth_date {
            r.birth_date = Some(mistype_date(rng, d));
        }
        let roll: f64 = rng.random();
        if roll < 0.10 {
            r.community = Some(self.community(rng));
        } else if roll < 0.15 {
            r.community = None;
        }
        let roll: f64 = rng.random();
        if roll < 0.40 {
            r.phone = None;
        } else if roll < 0.50 {
            r.phone = Some(mobile(rng).as_str().to_string());
        }
        r
    }
}

fn mistype_id(rng: &mut ChaCha8Rng, id: &str) -> Option<String> {
    let roll: f64 = rng.random();
    let mut bytes = id.as_bytes().to_vec();
    if roll < 0.20 {
        return None;
    } else if roll < 0.25 {
        let at = rng.random_range(0..17);
        let old = bytes[at];
        while bytes[at] == old {
            bytes[at] = b'0' + rng.random_range(0..10u8);
        }
    } else if roll < 0.28 {
        let at = rng.random_range(6..16);
        if bytes[at] == bytes[at + 1] {
            bytes[at + 1] = if bytes[at] == b'9' { b'0' } else { bytes[at] + 1 };
        }
        bytes.swap(at, at + 1);
    } else if roll < 0.31 && &id[6..8] == "19" {
        // The 15-digit number of someone born in the 1900s.
        return Some(format!("{}{}", &id[..6], &id[8..17]));
    }
    String::from_utf8(bytes).ok()
}

fn rewrite_name(rng: &mut ChaCha8Rng, name: &str) -> String {
    let roll: f64 = rng.random();
    let mut chars: Vec<char> = name.chars().collect();
    if roll < 0.04 {
        for c in &mut chars {
            if let Some((_, t)) = TRADITIONAL.iter().find(|(s, _)| s == c) {
                *c = *t;
            }
        }
    } else if roll < 0.08 {
        let candidates: Vec<usize> =
            (0..chars.len()).filter(|&i| HOMOPHONES.iter().any(|(a, _)| *a == chars[i])).collect();
        if !candidates.is_empty() {
            let at = candidates[rng.random_range(0..candidates.len())];
            let options: Vec<char> = HOMOPHONES.iter().filter(|(a, _)| *a == chars[at]).map(|(_, b)| *b).collect();
            chars[at] = options[rng.random_range(0..options.len())];
        }
    } else if roll < 0.10 {
        if chars.len() == 3 {
            chars.remove(1);
        } else if chars.len() == 2 {
            chars.insert(1, if rng.random_bool(0.5) { '小' } else { '晓' });
        }
    } else if roll < 0.11 && chars.len() > 1 {
        let last = chars.len() - 1;
        chars[last] = MALE_GIVEN[rng.random_range(0..MALE_GIVEN.len())].chars().next().unwrap_or('明');
    }
    chars.into_iter().collect()
}

fn mistype_date(rng: &mut ChaCha8Rng, d: Date) -> Date {
    let roll: f64 = rng.random();
    let month = u8::from(d.month());
    if roll < 0.02 && d.day() <= 12 && d.day() != month {
        let swapped = Month::try_from(d.day()).ok().and_then(|m| Date::from_calendar_date(d.year(), m, month).ok());
        return swapped.unwrap_or(d);
    }
    if roll < 0.04 {
        return if rng.random_bool(0.5) { d.next_day().unwrap_or(d) } else { d.previous_day().unwrap_or(d) };
    }
    if roll < 0.05 {
        return d.replace_day(rng.random_range(1..=28)).unwrap_or(d);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_plan_gives_the_same_data() {
        let plan = LinkagePlan { registry: 500, incoming: 100, ..LinkagePlan::default() };
        let a = generate(&plan);
        let b = generate(&plan);
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
        assert_eq!(a.2, b.2);
        let matched = a.2.iter().filter(|(_, p)| p.is_some()).count();
        assert!((60..=95).contains(&matched), "{matched}");
        for (_, r) in &a.0 {
            if let Some(id) = &r.id_number {
                assert!(crate::registry::IdNumber::parse(id).is_ok() || id[..2].parse::<u32>().is_ok(), "{id}");
            }
        }
    }
}
