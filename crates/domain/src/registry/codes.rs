//! Coded attributes of a resident, each with the national standard's code where one
//! exists, a stable storage key and Chinese/English labels.

use serde::{Deserialize, Serialize};

/// Declares an enum whose variants carry a storage key and labels.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => ($key:literal, $zh:literal, $en:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The key stored in the database and used in URLs and JSON.
            pub fn key(self) -> &'static str {
                match self { $($name::$variant => $key),+ }
            }
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
            pub fn label_en(self) -> &'static str {
                match self { $($name::$variant => $en),+ }
            }
            pub fn from_key(key: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.key() == key)
            }
            /// Accepts the key, the Chinese label or the English label.
            pub fn from_text(text: &str) -> Option<Self> {
                let t = text.trim();
                Self::ALL.iter().copied().find(|v| {
                    v.key() == t || v.label_zh() == t || v.label_en().eq_ignore_ascii_case(t)
                })
            }
        }

        $crate::labelled!($name);
    };
}
pub(crate) use coded_enum;

coded_enum!(
    /// 性别 (GB/T 2261.1: 1 male, 2 female).
    Sex {
        Male => ("1", "男", "male"),
        Female => ("2", "女", "female"),
    }
);

coded_enum!(
    /// 人口类型: whether a person is registered here and where they live.
    ResidenceStatus {
        Registered => ("registered", "户籍人口", "registered resident"),
        Inflow => ("inflow", "流入人口", "inflow migrant"),
        Outflow => ("outflow", "流出人口", "registered, living elsewhere"),
    }
);

coded_enum!(
    /// 婚姻状况 (GB/T 2261.2).
    MaritalStatus {
        Unmarried => ("10", "未婚", "unmarried"),
        Married => ("20", "已婚", "married"),
        Widowed => ("30", "丧偶", "widowed"),
        Divorced => ("40", "离婚", "divorced"),
        Unspecified => ("90", "未说明", "not stated"),
    }
);

coded_enum!(
    /// 与户主关系 (GB/T 4761).
    Relationship {
        Head => ("02", "户主", "head of household"),
        Spouse => ("10", "配偶", "spouse"),
        Son => ("20", "子", "son"),
        Daughter => ("30", "女", "daughter"),
        Grandchild => ("40", "孙子女", "grandchild"),
        Parent => ("50", "父母", "parent"),
        Grandparent => ("60", "祖父母", "grandparent"),
        Sibling => ("70", "兄弟姐妹", "sibling"),
        Other => ("99", "其他", "other"),
    }
);

coded_enum!(
    /// Why a resident's record ends here.
    ExitReason {
        Died => ("died", "死亡", "died"),
        MovedAway => ("moved_away", "迁出本地", "moved away"),
    }
);

coded_enum!(
    /// Why a resident has no identity number recorded.
    IdMissingReason {
        NewbornNotRegistered => ("newborn", "新生儿尚未落户", "newborn not yet registered"),
        NotYetIssued => ("not_issued", "尚未办理", "not yet issued"),
        ForeignDocument => ("foreign_document", "持外国证件", "holds a foreign document"),
        Unknown => ("unknown", "不详，待核实", "unknown, to be verified"),
    }
);

/// 民族: the 56 ethnic groups with their GB 3304 codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ethnicity(u8);

const ETHNIC_GROUPS: [&str; 56] = [
    "汉族",
    "蒙古族",
    "回族",
    "藏族",
    "维吾尔族",
    "苗族",
    "彝族",
    "壮族",
    "布依族",
    "朝鲜族",
    "满族",
    "侗族",
    "瑶族",
    "白族",
    "土家族",
    "哈尼族",
    "哈萨克族",
    "傣族",
    "黎族",
    "傈僳族",
    "佤族",
    "畲族",
    "高山族",
    "拉祜族",
    "水族",
    "东乡族",
    "纳西族",
    "景颇族",
    "柯尔克孜族",
    "土族",
    "达斡尔族",
    "仫佬族",
    "羌族",
    "布朗族",
    "撒拉族",
    "毛南族",
    "仡佬族",
    "锡伯族",
    "阿昌族",
    "普米族",
    "塔吉克族",
    "怒族",
    "乌孜别克族",
    "俄罗斯族",
    "鄂温克族",
    "德昂族",
    "保安族",
    "裕固族",
    "京族",
    "塔塔尔族",
    "独龙族",
    "鄂伦春族",
    "赫哲族",
    "门巴族",
    "珞巴族",
    "基诺族",
];

/// The romanised names of GB 3304, in code order.
const ETHNIC_GROUPS_EN: [&str; 56] = [
    "Han",
    "Mongol",
    "Hui",
    "Zang",
    "Uygur",
    "Miao",
    "Yi",
    "Zhuang",
    "Buyei",
    "Chosen",
    "Man",
    "Dong",
    "Yao",
    "Bai",
    "Tujia",
    "Hani",
    "Kazak",
    "Dai",
    "Li",
    "Lisu",
    "Va",
    "She",
    "Gaoshan",
    "Lahu",
    "Sui",
    "Dongxiang",
    "Naxi",
    "Jingpo",
    "Kirgiz",
    "Tu",
    "Daur",
    "Mulao",
    "Qiang",
    "Blang",
    "Salar",
    "Maonan",
    "Gelao",
    "Xibe",
    "Achang",
    "Pumi",
    "Tajik",
    "Nu",
    "Uzbek",
    "Russ",
    "Ewenki",
    "Deang",
    "Bonan",
    "Yugur",
    "Gin",
    "Tatar",
    "Derung",
    "Oroqen",
    "Hezhen",
    "Monba",
    "Lhoba",
    "Jino",
];

impl Ethnicity {
    pub const HAN: Ethnicity = Ethnicity(1);

    /// From the two-digit GB 3304 code ("01" … "56").
    pub fn from_code(code: &str) -> Option<Self> {
        let n: u8 = code.trim().parse().ok()?;
        (1..=56).contains(&n).then_some(Ethnicity(n))
    }

    /// From the code or the name, with or without the trailing 族 ("汉", "汉族", "01").
    pub fn from_text(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Some(e) = Self::from_code(t) {
            return Some(e);
        }
        let position = ETHNIC_GROUPS.iter().position(|name| *name == t || name.strip_suffix('族') == Some(t))?;
        Some(Ethnicity(position as u8 + 1))
    }

    pub fn code(self) -> String {
        format!("{:02}", self.0)
    }

    pub fn name(self) -> &'static str {
        ETHNIC_GROUPS[usize::from(self.0 - 1)]
    }

    pub fn label_zh(self) -> &'static str {
        self.name()
    }

    pub fn label_en(self) -> &'static str {
        ETHNIC_GROUPS_EN[usize::from(self.0 - 1)]
    }

    pub fn all() -> impl Iterator<Item = Ethnicity> {
        (1..=56).map(Ethnicity)
    }
}

impl TryFrom<String> for Ethnicity {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Ethnicity::from_text(&value).ok_or(value)
    }
}

impl From<Ethnicity> for String {
    fn from(value: Ethnicity) -> Self {
        value.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_labels_round_trip() {
        for s in ResidenceStatus::ALL {
            assert_eq!(ResidenceStatus::from_key(s.key()), Some(*s));
            assert_eq!(ResidenceStatus::from_text(s.label_zh()), Some(*s));
        }
        assert_eq!(Relationship::from_text("户主"), Some(Relationship::Head));
        assert_eq!(Sex::from_text("女"), Some(Sex::Female));
        assert_eq!(MaritalStatus::from_key("20"), Some(MaritalStatus::Married));
    }

    #[test]
    fn fifty_six_ethnic_groups() {
        assert_eq!(Ethnicity::all().count(), 56);
        assert_eq!(Ethnicity::from_text("汉"), Some(Ethnicity::HAN));
        assert_eq!(Ethnicity::from_text("壮族").unwrap().code(), "08");
        assert_eq!(Ethnicity::from_code("56").unwrap().name(), "基诺族");
        assert_eq!(Ethnicity::from_code("57"), None);
        for e in Ethnicity::all() {
            assert_eq!(Ethnicity::from_text(&e.code()), Some(e));
            assert_eq!(Ethnicity::from_text(e.name()), Some(e));
        }
    }
}

crate::labelled!(Ethnicity);
