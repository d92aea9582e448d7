//! The columns of a resident file and how headers people write map onto them.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

/// A column jiceng reads. The first group is stored; the second is recognised and
/// deliberately not stored (so it is not reported as unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    HouseholdNo,
    CommunityCode,
    Community,
    Grid,
    Building,
    Unit,
    Floor,
    Room,
    Name,
    Sex,
    IdNumber,
    IdMissingReason,
    BirthDate,
    Ethnicity,
    Phone,
    RegisteredResidence,
    Relationship,
    ResidenceStatus,
    ArrivalDate,
    MaritalStatus,
    LastVerified,
    /// 现住址: free text; the structured address columns are what places a person.
    CurrentAddress,
    /// 街道: a 9-digit street code checks (and picks among same-named) communities; a
    /// street's name is read and set aside.
    Street,
    /// 序号: the sheet's own row numbers.
    SerialNo,
    /// 错误列 and 错误原因: added by jiceng's error files, so a corrected error file
    /// imports as it is.
    ErrorColumns,
    ErrorReason,
}

impl Column {
    /// The columns jiceng writes (export, generate, error files), in order.
    pub const EXPORTED: [Column; 21] = [
        Column::HouseholdNo,
        Column::CommunityCode,
        Column::Community,
        Column::Grid,
        Column::Building,
        Column::Unit,
        Column::Floor,
        Column::Room,
        Column::Name,
        Column::Sex,
        Column::IdNumber,
        Column::IdMissingReason,
        Column::BirthDate,
        Column::Ethnicity,
        Column::Phone,
        Column::RegisteredResidence,
        Column::Relationship,
        Column::ResidenceStatus,
        Column::ArrivalDate,
        Column::MaritalStatus,
        Column::LastVerified,
    ];

    /// Columns read but never written: a current-address note, a row number, and the
    /// two columns an error file adds.
    pub const RECOGNISED_ONLY: [Column; 5] =
        [Column::CurrentAddress, Column::Street, Column::SerialNo, Column::ErrorColumns, Column::ErrorReason];

    /// Every column recognised in a header: the exported ones, then the recognised-only.
    pub const ALL: [Column; 26] = {
        let mut all = [Column::HouseholdNo; 26];
        let mut i = 0;
        while i < Column::EXPORTED.len() {
            all[i] = Column::EXPORTED[i];
            i += 1;
        }
        while i < all.len() {
            all[i] = Column::RECOGNISED_ONLY[i - Column::EXPORTED.len()];
            i += 1;
        }
        all
    };

    /// The Chinese header jiceng writes.
    pub fn header_zh(self) -> &'static str {
        self.names()[0]
    }

    /// The English header (also the key in mapping files).
    pub fn key(self) -> &'static str {
        self.names()[1]
    }

    /// Every header that means this column: the Chinese, the English, and the variants
    /// found in office sheets.
    fn names(self) -> &'static [&'static str] {
        match self {
            Column::HouseholdNo => &["户编号", "household_no", "户号", "户籍号"],
            Column::CommunityCode => &["社区代码", "community_code", "社区编码", "村居代码", "区划代码"],
            Column::Community => &[
                "社区",
                "community",
                "社区名称",
                "所属社区",
                "村居",
                "社区（村）",
                "现住址社区",
                "现居住社区",
                "所在社区",
                "居住社区",
                "社区(居委会)",
                "居委会",
                "村（居）委会",
            ],
            Column::Grid => &["网格", "grid", "网格名称", "所属网格"],
            Column::Building => &["楼栋", "building", "楼栋号", "栋", "楼号", "楼栋名称"],
            Column::Unit => &["单元", "unit", "单元号"],
            Column::Floor => &["楼层", "floor", "层"],
            Column::Room => &["房号", "room", "房间号", "门牌号", "室"],
            Column::Name => &["姓名", "name", "居民姓名"],
            Column::Sex => &["性别", "sex", "gender"],
            Column::IdNumber => &[
                "公民身份号码",
                "id_number",
                "身份证号",
                "身份证号码",
                "证件号码",
                "公民身份证号码",
                "身份号码",
                "居民身份证号",
                "居民身份证号码",
                "身份证件号码",
                "证件号",
                "公民身份证号",
            ],
            Column::IdMissingReason => &["身份号码缺失原因", "id_missing_reason", "无身份号码原因"],
            Column::BirthDate => &["出生日期", "birth_date", "出生年月日", "出生年月", "date_of_birth"],
            Column::Ethnicity => &["民族", "ethnicity"],
            Column::Phone => &[
                "联系电话",
                "phone",
                "电话",
                "手机",
                "手机号",
                "手机号码",
                "电话号码",
                "联系方式",
                "移动电话",
                "联系手机",
            ],
            Column::RegisteredResidence => &[
                "户籍地",
                "registered_residence",
                "户籍所在地",
                "户籍地址",
                "户口所在地",
                "户籍地区划",
                "户籍地详址",
                "户籍地址详址",
                "户口所在地详址",
            ],
            Column::Relationship => {
                &["与户主关系", "relationship", "与户主的关系", "关系", "户主关系", "与户主关系名称"]
            }
            Column::ResidenceStatus => &[
                "人口类型",
                "residence_status",
                "人员类型",
                "人口类别",
                "人员类别",
                "人口属性",
                "人口性质",
                "人员属性",
            ],
            Column::ArrivalDate => &[
                "来本地日期",
                "arrival_date",
                "来本地时间",
                "到达日期",
                "流入日期",
                "来本地居住日期",
                "来本地居住时间",
                "流入时间",
                "来现住地日期",
                "来现住地时间",
            ],
            Column::MaritalStatus => &["婚姻状况", "marital_status", "婚姻", "婚姻状态"],
            Column::LastVerified => &["最近核实日期", "last_verified", "核实日期", "最后核实日期"],
            Column::CurrentAddress => {
                &["现住址", "current_address", "现居住地址", "居住地址", "现居住地", "现住地址", "现住址详址"]
            }
            Column::Street => {
                &["街道", "street", "所属街道", "街道名称", "街道（乡镇）", "乡镇（街道）", "乡镇街道", "街道代码"]
            }
            Column::SerialNo => &["序号", "no", "编号"],
            Column::ErrorColumns => &["错误列", "error_columns"],
            Column::ErrorReason => &["错误原因", "reason", "error_reason"],
        }
    }

    pub fn from_key(key: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.key() == key.trim())
    }

    /// Whether the value is stored (as opposed to recognised and set aside).
    pub fn is_stored(self) -> bool {
        !matches!(
            self,
            Column::CurrentAddress | Column::Street | Column::SerialNo | Column::ErrorColumns | Column::ErrorReason
        )
    }
}

/// A header as compared: NFKC, no spaces, no bracketed notes ("出生日期（yyyy-mm-dd）"),
/// no required-field stars, ASCII lowercased.
pub fn normalize_header(header: &str) -> String {
    let text: String = header.nfkc().collect();
    let mut out = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '*' | '\u{feff}' | '\u{200b}' => {}
            c if c.is_whitespace() => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

fn lookup() -> &'static HashMap<String, Column> {
    static TABLE: std::sync::OnceLock<HashMap<String, Column>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for column in Column::ALL {
            for name in column.names() {
                table.insert(normalize_header(name), column);
            }
        }
        table
    })
}

/// What is wrong with a file's header row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("第{second}列“{header}”与第{first}列重复，都表示“{}” / columns {first} and {second} ('{header}') both mean '{}'", column.header_zh(), column.key())]
    Duplicate { column: Column, header: String, first: usize, second: usize },
    #[error("缺少必需的列：{} / required columns missing: {}", zh.join("、"), en.join(", "))]
    Missing { zh: Vec<&'static str>, en: Vec<&'static str> },
    #[error("映射文件第{line}行：“{text}”应为“原列名,字段”，字段为 {} 之一 / mapping file line {line}: '{text}' must be 'header,field' with field one of the English headers", Column::EXPORTED.map(|c| c.key()).join(" "))]
    Mapping { line: usize, text: String },
}

/// Which cell of a row holds which column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    positions: HashMap<Column, usize>,
    /// Headers nobody recognised, with their 1-based column numbers.
    pub unknown: Vec<(usize, String)>,
    /// How many cells the header row has.
    pub width: usize,
    /// The header row as the file wrote it (for messages that name its columns).
    pub headers: Vec<String>,
}

impl ColumnMap {
    /// Maps a header row. `mapping` (from a mapping file) takes precedence over the
    /// built-in names.
    pub fn from_headers(headers: &[String], mapping: &HashMap<String, Column>) -> Result<ColumnMap, HeaderError> {
        let mut positions: HashMap<Column, usize> = HashMap::new();
        let mut unknown = Vec::new();
        for (i, header) in headers.iter().enumerate() {
            let normalized = normalize_header(header);
            if normalized.is_empty() {
                continue;
            }
            let column = mapping.get(&normalized).or_else(|| lookup().get(&normalized)).copied();
            match column {
                Some(column) => {
                    if let Some(first) = positions.get(&column) {
                        return Err(HeaderError::Duplicate {
                            column,
                            header: header.trim().to_string(),
                            first: first + 1,
                            second: i + 1,
                        });
                    }
                    positions.insert(column, i);
                }
                None => unknown.push((i + 1, header.trim().to_string())),
            }
        }
        let names =
            headers
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    if h.trim().is_empty() { format!("第{}列 column {}", i + 1, i + 1) } else { h.trim().to_string() }
                })
                .collect();
        let map = ColumnMap { positions, unknown, width: headers.len(), headers: names };
        let mut missing = Vec::new();
        if !map.has(Column::Name) {
            missing.push(Column::Name);
        }
        if !map.has(Column::CommunityCode) && !map.has(Column::Community) {
            missing.push(Column::CommunityCode);
        }
        for column in [Column::Building, Column::Room] {
            if !map.has(column) {
                missing.push(column);
            }
        }
        // Sex and birth date can be read from the ID number.
        if !map.has(Column::IdNumber) {
            for column in [Column::Sex, Column::BirthDate] {
                if !map.has(column) {
                    missing.push(column);
                }
            }
        }
        if missing.is_empty() {
            Ok(map)
        } else {
            Err(HeaderError::Missing {
                zh: missing.iter().map(|c| c.header_zh()).collect(),
                en: missing.iter().map(|c| c.key()).collect(),
            })
        }
    }

    pub fn has(&self, column: Column) -> bool {
        self.positions.contains_key(&column)
    }

    pub fn position(&self, column: Column) -> Option<usize> {
        self.positions.get(&column).copied()
    }

    /// The cell of `column` in `row`, trimmed; empty when the column or cell is absent.
    pub fn cell<'a>(&self, row: &'a [String], column: Column) -> &'a str {
        self.position(column).and_then(|i| row.get(i)).map(|s| s.trim()).unwrap_or("")
    }

    /// How many known headers a candidate header row has (to find the header row under
    /// titles and merged cells).
    pub fn recognised(headers: &[String]) -> usize {
        headers.iter().filter(|h| lookup().contains_key(&normalize_header(h))).count()
    }
}

/// Reads a mapping file: one `header,field` pair per line (`#` starts a comment), the
/// field being an English header such as `name` or `id_number`.
pub fn parse_mapping(text: &str) -> Result<HashMap<String, Column>, HeaderError> {
    let mut mapping = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line
            .rsplit_once([',', '，', '\t'])
            .and_then(|(header, key)| Some((normalize_header(header), Column::from_key(key)?)))
            .filter(|(header, _)| !header.is_empty());
        match parsed {
            Some((header, column)) => {
                mapping.insert(header, column);
            }
            None => return Err(HeaderError::Mapping { line: i + 1, text: line.to_string() }),
        }
    }
    Ok(mapping)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chinese_english_and_variant_headers_map_to_columns() {
        let headers = strings(&[
            "序号",
            "姓名",
            "身份证号",
            "社区代码",
            "楼栋",
            "房号*",
            "出生日期（yyyy-mm-dd）",
            "Phone",
            "爱好",
        ]);
        let map = ColumnMap::from_headers(&headers, &HashMap::new()).unwrap();
        assert_eq!(map.position(Column::IdNumber), Some(2));
        assert_eq!(map.position(Column::Room), Some(5));
        assert_eq!(map.position(Column::BirthDate), Some(6));
        assert_eq!(map.position(Column::Phone), Some(7));
        assert_eq!(map.unknown, vec![(9, "爱好".to_string())]);
    }

    /// Header variants met in national and provincial templates (流动人口信息登记表,
    /// 实有人口信息采集表, 全员人口个案) and in office sheets.
    #[test]
    fn header_variants_offices_use_map_to_their_columns() {
        let cases = [
            ("身份证号码", Column::IdNumber),
            ("证件号码", Column::IdNumber),
            ("居民身份证号", Column::IdNumber),
            ("居民身份证号码", Column::IdNumber),
            ("身份证件号码", Column::IdNumber),
            ("手机", Column::Phone),
            ("手机号码", Column::Phone),
            ("电话号码", Column::Phone),
            ("联系方式", Column::Phone),
            ("现住址社区", Column::Community),
            ("所在社区", Column::Community),
            ("户主关系", Column::Relationship),
            ("人员类别", Column::ResidenceStatus),
            ("人口属性", Column::ResidenceStatus),
            ("户籍地详址", Column::RegisteredResidence),
            ("来本地居住时间", Column::ArrivalDate),
            ("婚姻状态", Column::MaritalStatus),
            ("现居住地", Column::CurrentAddress),
            ("身份证号码（18位）*", Column::IdNumber),
            ("手 机", Column::Phone),
        ];
        for (header, column) in cases {
            let headers = strings(&["姓名", "社区代码", "楼栋", "房号", "出生日期", "性别", header]);
            let headers = if column == Column::Community {
                strings(&["姓名", "楼栋", "房号", "出生日期", "性别", header])
            } else {
                headers
            };
            let map = ColumnMap::from_headers(&headers, &HashMap::new()).unwrap_or_else(|e| panic!("{header}: {e}"));
            assert_eq!(map.position(column), Some(headers.len() - 1), "{header}");
            assert!(map.unknown.is_empty(), "{header}: {:?}", map.unknown);
        }
    }

    #[test]
    fn duplicate_and_missing_columns_are_named() {
        let headers = strings(&["姓名", "身份证号", "公民身份号码", "社区", "楼栋", "房号"]);
        let err = ColumnMap::from_headers(&headers, &HashMap::new()).unwrap_err();
        assert!(matches!(err, HeaderError::Duplicate { first: 2, second: 3, .. }), "{err}");
        let err = ColumnMap::from_headers(&strings(&["姓名", "性别"]), &HashMap::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("社区代码") && text.contains("出生日期") && text.contains("room"), "{text}");
    }

    #[test]
    fn a_mapping_file_names_other_headers() {
        let mapping = parse_mapping("# 本地表头\n居民名字,name\n证件,id_number\n").unwrap();
        let headers = strings(&["居民名字", "证件", "社区", "楼栋", "房号"]);
        let map = ColumnMap::from_headers(&headers, &mapping).unwrap();
        assert_eq!((map.position(Column::Name), map.position(Column::IdNumber)), (Some(0), Some(1)));
        assert!(matches!(parse_mapping("名字,nickname"), Err(HeaderError::Mapping { line: 1, .. })));
    }

    #[test]
    fn every_written_header_reads_back_as_its_column() {
        let headers: Vec<String> = Column::EXPORTED.iter().map(|c| c.header_zh().to_string()).collect();
        let map = ColumnMap::from_headers(&headers, &HashMap::new()).unwrap();
        for (i, column) in Column::EXPORTED.iter().enumerate() {
            assert_eq!(map.position(*column), Some(i));
        }
        let english: Vec<String> = Column::EXPORTED.iter().map(|c| c.key().to_uppercase()).collect();
        assert!(ColumnMap::from_headers(&english, &HashMap::new()).unwrap().unknown.is_empty());
    }
}
