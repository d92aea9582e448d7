//! The `jiceng` command.

mod db;
mod demo;
mod exchange;
mod fieldwork;
mod linkage;
mod ops;
mod org;
mod progress;
mod registry;
mod reporting;
mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use jiceng_domain::org::DivisionCode;
use jiceng_server::AppState;

use db::DbArgs;

const DEMO_DB: &str = "jiceng-demo.db";
const DEFAULT_DB: &str = "jiceng.db";

/// 基层人口服务平台 — jiceng, population services for grid workers, communities,
/// street offices and the district bureau.
#[derive(Parser)]
#[command(name = "jiceng", version)]
struct Cli {
    #[command(flatten)]
    db: DbArgs,
    /// 配置文件（TOML）；命令行与环境变量优先于它 / configuration file (TOML); flags and the environment go over it
    #[arg(long, env = "JICENG_CONFIG", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// 日志格式 / log format: text, or json (one object a line)
    #[arg(long, env = "JICENG_LOG_FORMAT", value_enum, global = true)]
    log_format: Option<ops::config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

/// A synthetic population: how many, where, and from which seed (demo, generate).
#[derive(Args)]
struct Population {
    /// 居民人数 / number of residents
    #[arg(long, default_value_t = 50_000)]
    residents: u64,
    /// 县级区划代码（默认深圳市龙岗区）/ county code (default: Longgang, Shenzhen)
    #[arg(long, default_value = "440307")]
    county: String,
    /// 随机种子，同一种子生成同一人口 / random seed; the same seed gives the same population
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Subcommand)]
enum Command {
    /// 演示：载入真实区划、生成合成居民并启动网站 / demo: real divisions, synthetic residents, web server
    Demo {
        /// 不启动网站，建好数据库即退出 / build the database and exit without serving
        #[arg(long)]
        no_serve: bool,
        #[command(flatten)]
        population: Population,
        /// 删除已有的演示数据库后重建（仅 SQLite）/ delete an existing demo database first (SQLite only)
        #[arg(long)]
        fresh: bool,
        /// 监听地址 / address to listen on
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// 启动网站 / run the web server
    Serve {
        /// 监听地址（默认 127.0.0.1:8080）/ address to listen on (default 127.0.0.1:8080)
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Cookie 仅经 HTTPS 发送（部署在 TLS 之后时使用）/ send cookies over HTTPS only (behind TLS)
        #[arg(long)]
        secure_cookies: bool,
        /// 数据目录：上传文件在读取期间存放于其中的私有 uploads/ 文件夹（默认：SQLite 文件所在目录，否则当前目录）
        /// / data directory: uploads are kept in its private uploads/ folder while they are read
        /// (default: the SQLite file's folder, else the current folder)
        #[arg(long, env = "JICENG_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// 区划代码 / division codes
    Regions {
        #[command(subcommand)]
        command: RegionsCommand,
    },
    /// 生成合成居民并写成居民信息表 CSV / write a synthetic population as a resident CSV file
    Generate {
        #[command(flatten)]
        population: Population,
        /// 计算年龄所依据的日期（默认今天）/ date ages are computed on (default: today)
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<String>,
        /// 输出文件 / output file
        #[arg(long, value_name = "FILE.csv")]
        out: PathBuf,
    },
    /// 记录匹配 / record linkage
    Linkage {
        #[command(subcommand)]
        command: LinkageCommand,
    },
    /// 部门通报：部门、接口令牌、导入 / department feeds: departments, API tokens, imports
    Feed {
        #[command(subcommand)]
        command: FeedCommand,
    },
    /// 地区间信息交换：密钥、协作地区、交换包 / inter-region exchange: keys, partner regions, packages
    Exchange {
        #[command(subcommand)]
        command: ExchangeCommand,
    },
    /// 公民身份号码 / identity numbers
    Id {
        #[command(subcommand)]
        command: IdCommand,
    },
    /// 审计日志 / audit log
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// 用户 / users
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// 导入 / import
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// 导出 / export
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// 统计报表：打印或导出某区划某期的报表；verify 用登记库重算核对
    /// / periodic report of a node for a period (printed or written); `verify` recomputes from the registry
    #[command(args_conflicts_with_subcommands = true)]
    Report {
        #[command(subcommand)]
        command: Option<ReportCommand>,
        /// 区划代码 / division code
        #[arg(long, value_name = "CODE")]
        node: Option<String>,
        /// 统计期：2026-10、2026-Q4 或 2026 / period: 2026-10, 2026-Q4 or 2026
        #[arg(long)]
        period: Option<String>,
        /// table、json、csv、xlsx、dhis2（dataValueSets JSON）或 adx
        #[arg(long, default_value = "table")]
        format: String,
        /// 输出文件（xlsx 必需）/ output file (required for xlsx)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// 随访等级（放心/关心/挂心）/ follow-up tiers
    Tiers {
        #[command(subcommand)]
        command: TiersCommand,
    },
    /// 走访计划：某区划某月每户待走访的原因，按走访顺序 / visit plans for a month, ordered for walking
    Plan {
        #[arg(long, value_name = "CODE")]
        node: String,
        /// 月份，默认本月 / month, default this month (2026-11)
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// 四不漏覆盖情况 / coverage: buildings, floors, households and residents reached in a month
    Coverage {
        #[arg(long, value_name = "CODE")]
        node: String,
        #[arg(long)]
        period: Option<String>,
        /// table、json 或 xlsx
        #[arg(long, default_value = "table")]
        format: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// 五定：指定网格、社区或街道的责任人 / make a user responsible for a grid, community or street
    Responsible {
        /// 社区代码:网格号，如 440307003002:1 / COMMUNITY:GRID_NUMBER
        #[arg(long)]
        grid: Option<String>,
        #[arg(long)]
        community: Option<String>,
        #[arg(long)]
        street: Option<String>,
        #[arg(long)]
        user: String,
    },
    /// 核对：用登记库重算每个派生数据（统计格、楼层计数、随访行），有不一致时退出码为1
    /// / recompute every projection (report cells, floor counters, follow-up rows) from the records; exit 1 on any difference
    Verify {
        /// 只核对此区划所在的县 / only the county of this division
        #[arg(long, value_name = "CODE")]
        node: Option<String>,
        /// 每项核对输出一个 JSON 对象 / print one JSON object per check
        #[arg(long)]
        json: bool,
    },
    /// 备份数据库（服务运行时亦可；SQLite 在线复制，PostgreSQL 用 pg_dump），写完即检查
    /// / back up the database while it runs (SQLite: an online copy; PostgreSQL: pg_dump), checked once written
    Backup {
        /// 备份文件（不得已存在）/ backup file (must not exist)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// 从备份恢复到 --db / --database-url 所指数据库，再运行全部核对；核对不过时退出码为1
    /// / restore a backup into the database given by --db / --database-url, then run every check; exit 1 if one fails
    Restore {
        file: PathBuf,
        /// 覆盖已有的数据库 / replace an existing database
        #[arg(long)]
        force: bool,
    },
    /// 数据库 / database
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// 配置 / configuration
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// 性能基准（打印数据）/ benchmarks (print figures)
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// 在 Citus 协调节点上按县分布：代码表为参考表，含县代码的表按 county_code 分片并与 grid 共置
    /// / on a Citus coordinator: code tables become reference tables, tables with county_code are
    /// sharded by it, colocated with grid
    Distribute {
        /// 只打印将执行的调用 / print the calls without running them
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// 检查配置：列出每项设置及其来源，检查数据库、数据目录、Cookie 与指标令牌；有问题时退出码为1
    /// / check the configuration: every setting and where it came from; the database, data directory,
    /// cookies and metrics token; exit 1 when something is wrong
    Check {
        /// 以一个 JSON 对象输出 / print one JSON object
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// 导入居民信息表（.csv 或 .xlsx）；全部导入时退出码为0，有被拒绝的行时为3
    /// / import a resident file (.csv or .xlsx): exit 0 when every row landed, 3 when some were rejected
    Residents {
        file: PathBuf,
        /// CSV 编码（默认自动识别）/ CSV encoding (detected by default): utf-8, gbk, gb18030
        #[arg(long)]
        encoding: Option<String>,
        /// 表头映射文件，每行“原列名,字段” / header mapping file, one 'header,field' per line
        #[arg(long, value_name = "FILE")]
        mapping: Option<PathBuf>,
        /// 错误文件（默认与输入同目录的 NAME.errors.EXT）/ error file (default NAME.errors.EXT beside the input)
        #[arg(long, value_name = "FILE")]
        error_file: Option<PathBuf>,
        /// 以一个 JSON 对象输出汇总 / print the summary as one JSON object
        #[arg(long)]
        json: bool,
        /// 每个事务的行数 / rows per transaction
        #[arg(long, default_value_t = 2000, hide = true)]
        chunk_rows: usize,
        /// 记录为哪个用户所做 / the user the import is recorded as
        #[arg(long = "as", value_name = "USERNAME", default_value = "import")]
        recorded_by: String,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// 导出某区划下的全部现住居民（与导入同列）/ export the current residents of a subtree (the import's columns)
    Residents {
        /// 区划代码 / division code
        #[arg(long, value_name = "CODE")]
        node: String,
        /// csv 或 xlsx（默认按 --out 的扩展名）/ csv or xlsx (default: from the --out extension)
        #[arg(long)]
        format: Option<String>,
        /// CSV 编码 / CSV encoding: utf-8 (default, with BOM), gb18030, gbk
        #[arg(long, default_value = "utf-8")]
        encoding: String,
        /// 输出文件 / output file
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// 记录为哪个用户所做 / the user the export is recorded as
        #[arg(long = "as", value_name = "USERNAME", default_value = "export")]
        recorded_by: String,
    },
}

#[derive(Subcommand)]
enum FeedCommand {
    /// 报送部门 / departments that send feeds
    Department {
        #[command(subcommand)]
        command: DepartmentCommand,
    },
    /// 部门接口令牌 / a department's API tokens
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// 导入部门通报文件（.csv 或 .xlsx）；全部读入时退出码为0，有被拒绝的行时为3
    /// / import a department's feed file (.csv or .xlsx): exit 0 when every row was read, 3 when some were rejected
    Import {
        /// 部门代码 / department code
        #[arg(long, value_name = "D")]
        department: String,
        /// 通报类型 / feed kind: marriage, divorce, hukou_change, hospital_birth, vaccination, school_entry, death
        #[arg(long, value_name = "K")]
        kind: String,
        file: PathBuf,
        /// 部门所在区县（部门代码在多个区县重复时）/ the department's county (when its code recurs in several)
        #[arg(long, value_name = "CODE")]
        county: Option<String>,
        /// CSV 编码（默认自动识别）/ CSV encoding (detected by default): utf-8, gbk, gb18030
        #[arg(long)]
        encoding: Option<String>,
        /// 错误文件（默认与输入同目录的 NAME.errors.EXT）/ error file (default NAME.errors.EXT beside the input)
        #[arg(long, value_name = "FILE")]
        error_file: Option<PathBuf>,
        /// 以一个 JSON 对象输出汇总 / print the summary as one JSON object
        #[arg(long)]
        json: bool,
        /// 记录为哪个用户所做 / the user the import is recorded as
        #[arg(long = "as", value_name = "USERNAME", default_value = "feed")]
        recorded_by: String,
    },
}

#[derive(Subcommand)]
enum ExchangeCommand {
    /// 生成本方密钥对：DIR/private.key（权限 0600）与 DIR/public.key
    /// / make this side's key pair: DIR/private.key (mode 0600) and DIR/public.key
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// 签名算法：ed25519，或国密 sm2（摘要用 SM3）/ signature algorithm: ed25519, or sm2 (with SM3 digests)
        #[arg(long, default_value = "ed25519")]
        algorithm: String,
    },
    /// 协作地区 / partner regions
    Partner {
        #[command(subcommand)]
        command: PartnerCommand,
    },
    /// 导出发给协作地区的交换包 / write the package for a partner region
    Export {
        /// 协作地区代码 / the partner's code
        #[arg(long, value_name = "CODE")]
        partner: String,
        /// 本方私钥文件 / this side's private key file
        #[arg(long, value_name = "PRIVATE_KEY_FILE")]
        key: PathBuf,
        /// 自该日起接收的变动（默认：上一个交换包之后）/ changes accepted since this day (default: since the last package)
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// 本方区县（数据库有多个区县时）/ this side's county (when the database has several)
        #[arg(long, value_name = "CODE")]
        local_county: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
    /// 导入交换包或回执；已应用或此前已导入时退出码为0，拒收时为1并说明原因
    /// / import a package or an acknowledgement: exit 0 when applied or seen before, 1 when refused, with the reason
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
    /// 半年对账：对方名单与本方所知在对方居住的人员比对，可导出 Excel
    /// / reconcile: the partner's roster against who we believe lives there, optionally as xlsx
    Reconcile {
        #[arg(long, value_name = "CODE")]
        partner: String,
        #[arg(long, value_name = "CODE")]
        local_county: Option<String>,
        /// 写出 Excel 对账表 / write the reconciliation workbook
        #[arg(long, value_name = "FILE.xlsx")]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
    /// 为收到的交换包写回执（列出拒收的记录及原因）/ write the acknowledgement of a package received (its refused records, with reasons)
    Acknowledge {
        #[arg(long, value_name = "CODE")]
        partner: String,
        #[arg(long, value_name = "PRIVATE_KEY_FILE")]
        key: PathBuf,
        /// 所答复的交换包编号（默认：最早未回执的）/ the package answered (default: the oldest not yet acknowledged)
        #[arg(long, value_name = "ID")]
        package: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, value_name = "CODE")]
        local_county: Option<String>,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run
enum PartnerCommand {
    /// 登记协作地区（已登记的则更新协议与公钥）/ add a partner region (or update its agreement and key)
    Add {
        /// 协作地区的区县或地市代码 / the partner's county or city code
        #[arg(long, value_name = "CODE")]
        county: String,
        /// 对方的公钥文件 / the partner's public key file
        #[arg(long, value_name = "PUBLIC_KEY_FILE")]
        key: PathBuf,
        /// 名称 / name
        #[arg(long)]
        name: String,
        /// 本方区县（数据库有多个区县时）/ this side's county (when the database has several)
        #[arg(long, value_name = "CODE")]
        local_county: Option<String>,
        /// 联系人 / contact person
        #[arg(long, default_value = "")]
        contact: String,
        /// 联系电话 / contact phone
        #[arg(long, default_value = "")]
        phone: String,
        /// 协议生效日期（默认今天）/ agreement starts (default today)
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<String>,
        /// 协议终止日期 / agreement ends
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<String>,
        /// 交换的字段（逗号分隔）/ fields exchanged, comma-separated: sex, dob, id_number, phone, address, partner, child_name
        #[arg(long, default_value = "sex,dob,id_number")]
        fields: String,
        /// 交换周期（月）/ months between packages
        #[arg(long, default_value_t = 6)]
        every_months: u8,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
    /// 列出协作地区及交换状态 / list partner regions and where the exchange stands
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DepartmentCommand {
    /// 登记报送部门 / register a department
    Add {
        /// 部门代码（区县内唯一）/ code, unique in the county
        #[arg(long)]
        code: String,
        /// 名称 / name
        #[arg(long)]
        name: String,
        /// 类型 / kind: civil_affairs, public_security, health, disease_control, education
        #[arg(long)]
        kind: String,
        /// 范围：区县或其下区划的代码 / region: a county or a division within one
        #[arg(long, value_name = "CODE")]
        region: String,
        /// 可报送的通报类型（逗号分隔，默认按部门类型）/ feed kinds it may send, comma-separated (default: its kind's usual ones)
        #[arg(long)]
        feeds: Option<String>,
        /// 记录为哪个用户所做 / the user the change is recorded as
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
    /// 列出报送部门 / list departments
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// 为部门生成接口令牌（只显示一次）/ make an API token for a department (shown once)
    Create {
        #[arg(long, value_name = "D")]
        department: String,
        #[arg(long, value_name = "CODE")]
        county: Option<String>,
        /// 用途说明 / what it is for
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
    /// 列出部门的令牌 / list a department's tokens
    List {
        #[arg(long, value_name = "D")]
        department: String,
        #[arg(long, value_name = "CODE")]
        county: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// 吊销令牌 / revoke a token
    Revoke {
        #[arg(long, value_name = "D")]
        department: String,
        #[arg(long, value_name = "CODE")]
        county: Option<String>,
        /// 令牌编号 / token id
        id: String,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
}

#[derive(Subcommand)]
enum LinkageCommand {
    /// 用已收通报与审核决定重新估计区县的匹配模型 / re-estimate a county's linkage model from the records received and the reviewers' decisions
    Train {
        /// 区县代码 / county code
        #[arg(long, value_name = "CODE")]
        county: String,
        #[arg(long)]
        json: bool,
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
    /// 生成带真值的合成匹配数据（登记库、部门来件、真值三个 CSV）
    /// / write synthetic linkage data with its truth (registry.csv, incoming.csv, truth.csv)
    Generate {
        /// 登记库人数 / registry records
        #[arg(long, default_value_t = 200_000)]
        registry: usize,
        /// 部门来件条数 / incoming records
        #[arg(long, default_value_t = 20_000)]
        incoming: usize,
        /// 随机种子 / seed
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 输出目录 / output folder
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// 交换包：写入、读取（整包核验后逐条解析）与导入 N 条变动，各与基线对照，给出大小与峰值内存
    /// / exchange packages: write, read (verified whole, then parsed) and apply N changes, each against its floor, with size and peak memory
    Exchange {
        /// 变动条数 / changes in the package
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// 接收方登记库人数 / people in the receiving registry
        #[arg(long, default_value_t = 20_000)]
        residents: u64,
        /// 只测文件的写入与读取（不导入数据库）/ time writing and reading the file only (no database apply)
        #[arg(long)]
        files_only: bool,
        #[arg(long)]
        json: bool,
    },
    /// 记录匹配：用只从两份文件训练的模型把来件匹配到登记库，对照真值给出精确率、召回率、F1
    /// / record linkage: link incoming records to a registry with a model trained on those two files alone; precision, recall and F1 against the truth
    Linkage {
        /// 登记库 / the registry: person_id,name,sex,dob,id_number,community,phone
        #[arg(long, value_name = "R.csv")]
        registry: PathBuf,
        /// 来件 / incoming records: incoming_id,name,sex,dob,id_number,community,phone
        #[arg(long, value_name = "I.csv")]
        incoming: PathBuf,
        /// 真值 / the truth: incoming_id,person_id
        #[arg(long, value_name = "T.csv")]
        truth: PathBuf,
        /// 另写出每条来件的最佳匹配 / also write each incoming record's best match: incoming_id,person_id,probability
        #[arg(long, value_name = "FILE")]
        matches: Option<PathBuf>,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 查询：许多人同时查询居民（查询页面对比直接查库的基线；给出 --database-url 时也测 PostgreSQL）
    /// / search: many people searching at once (the search page against the store's search alone; PostgreSQL too with --database-url)
    Search {
        /// 居民人数 / residents
        #[arg(long, default_value_t = 50_000)]
        residents: u64,
        /// 县级区划代码 / county code
        #[arg(long, default_value = "440307")]
        county: String,
        /// 同时查询的客户端数 / clients searching at once
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// 闭环之后再按这些速率各测一次：所有客户端合计每秒的请求数，各按计划发送（开环），可重复或用逗号分隔
        /// / after the closed loop (each client's next request as soon as the last is answered),
        /// one run per rate: requests a second from all clients together, each on its schedule
        /// (open loop); repeat the flag or separate rates with commas
        #[arg(long, value_delimiter = ',')]
        rate: Vec<f64>,
        /// 每项测量的秒数 / seconds each measurement runs
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 登录：N 次同时的错误密码登录，打印峰值内存与实际检查的密码数（SQLite；给出 --database-url 时也测 PostgreSQL）
    /// / logins: N wrong-password logins at once; peak memory and passwords checked (PostgreSQL too with --database-url)
    Logins {
        /// 同时登录次数 / logins at once
        #[arg(long, default_value_t = 500)]
        attempts: usize,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 导入速度：完整导入对比裸表装载基线（COPY / sqlite3 .import；给出 --database-url 时也测 PostgreSQL）
    /// / import speed: full import against a bare-table load floor (COPY / sqlite3 .import; PostgreSQL too with --database-url)
    Import {
        /// 居民人数（默认龙岗区规模）/ residents (default: Longgang's 4.14 million)
        #[arg(long, default_value_t = 4_140_000)]
        residents: u64,
        /// 县级区划代码 / county code
        #[arg(long, default_value = "440307")]
        county: String,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 导出速度：一个县的居民信息表导出对比直接读出同一批人的基线（PostgreSQL 用 COPY；给出 --database-url 时也测 PostgreSQL）
    /// / export speed: a county's resident file against reading the same people the fastest way (COPY on PostgreSQL; PostgreSQL too with --database-url)
    Export {
        /// 居民人数 / residents
        #[arg(long, default_value_t = 200_000)]
        residents: u64,
        /// 县级区划代码 / county code
        #[arg(long, default_value = "440307")]
        county: String,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 走访：全区一个月的走访计划与四不漏覆盖率的用时（加 --database-url 在 PostgreSQL 上）
    /// / planning a district's month and its coverage report (with --database-url, on PostgreSQL)
    Fieldwork {
        /// 居民人数（默认龙岗区规模）/ residents (default: Longgang's 4.14 million)
        #[arg(long, default_value_t = 4_140_000)]
        residents: u64,
        /// 县级区划代码 / county code
        #[arg(long, default_value = "440307")]
        county: String,
        /// 把基准数据库保存在此文件，下次直接复用（省去建库时间）
        /// / keep the benchmark's SQLite database in FILE and reuse it next time (skips the setup)
        #[arg(long, value_name = "FILE")]
        keep: Option<PathBuf>,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 报表读取：从统计格读月报 对比 用 GROUP BY 重算（一年的变动事件）
    /// / report reads from the cells against recomputing with GROUP BY (a year of events)
    Report {
        /// 居民人数（默认龙岗区规模）/ residents (default: Longgang's 4.14 million)
        #[arg(long, default_value_t = 4_140_000)]
        residents: u64,
        /// 县级区划代码 / county code
        #[arg(long, default_value = "440307")]
        county: String,
        /// 每月核实的居民比例 / share of residents verified each month
        #[arg(long, default_value_t = 0.01)]
        verified_per_month: f64,
        /// 以 JSON 输出 / print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// 上报与审核时限（天）：不带参数时打印 / reporting and review deadlines in days (printed without --set)
    Deadlines {
        /// 步骤=天数，如 report=2、community=7、street=30、district=30 / STEP=DAYS
        #[arg(long, value_name = "STEP=DAYS")]
        set: Vec<String>,
    },
    /// 用登记库重算全部统计格并逐格核对；一致时退出码为0，否则为1
    /// / recompute every report cell from the registry and compare: exit 0 when all agree, 1 otherwise
    Verify {
        /// 区划代码（默认所有有统计数据的县）/ division code (default: every county with figures)
        #[arg(long, value_name = "CODE")]
        node: Vec<String>,
        /// 每个区划输出一个 JSON 对象 / one JSON object per node
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TiersCommand {
    /// 按规则重新评定全县居民的随访等级（可每日定时运行）/ reassess every resident's tier (run it on a schedule)
    Reassess {
        /// 县级区划代码 / county code
        #[arg(long, default_value = "440307")]
        county: String,
    },
    /// 打印现行规则（JSON）；--set 保存新一版 / print the rules in force (JSON); --set stores a new version
    Rules {
        #[arg(long, value_name = "FILE.json")]
        set: Option<PathBuf>,
        /// 记录为哪个用户所做 / the user the change is recorded as
        #[arg(long = "as", value_name = "USERNAME", default_value = "admin")]
        recorded_by: String,
    },
}

#[derive(Subcommand)]
enum RegionsCommand {
    /// 载入统计用区划代码（2023）/ load the statistical division codes (2023)
    Load {
        /// 只载入这些县的街道和社区（默认全国）/ load towns and villages of these counties only (default: all)
        #[arg(long, value_name = "CODE")]
        county: Vec<String>,
    },
}

#[derive(Subcommand)]
enum IdCommand {
    /// 校验身份号码；无参数时从标准输入逐行读取；有无效号码时退出码为1
    /// / check identity numbers (one per line on standard input when none given); exit code 1 if any is invalid
    Check {
        /// 每行输出一个 JSON 对象 / print one JSON object per input
        #[arg(long)]
        json: bool,
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// 校验审计日志的哈希链；完整时退出码为0，否则为1并指出第一条有问题的记录
    /// / verify the audit log's hash chain: exit 0 when intact, 1 naming the first bad entry
    Verify {
        /// 上次校验时记下的末条哈希 / the head hash noted at the last check
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
    },
    /// 在系统链中记下各县链的末条（服务每小时自动运行）/ record every county chain's head in the system chain
    /// (the server does it hourly)
    Anchor,
}

#[derive(Subcommand)]
enum UserCommand {
    /// 新建用户；密码从标准输入读取，否则自动生成并打印
    /// / add a user; the password is read from standard input, or generated and printed
    Add {
        username: String,
        /// 角色 / role: grid_worker, specialist, street, district, service_provider, administrator
        #[arg(long)]
        role: String,
        /// 可见范围（区划代码，可多次）/ scope: a division code (repeatable)
        #[arg(long, value_name = "CODE")]
        scope: Vec<String>,
        /// 显示名 / display name
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn county_code(text: &str) -> anyhow::Result<DivisionCode> {
    DivisionCode::parse(text).with_context(|| format!("--county {text}"))
}

fn month_or_this(text: Option<&str>) -> anyhow::Result<jiceng_domain::reporting::Month> {
    match text {
        Some(t) => Ok(jiceng_domain::reporting::Month::parse(t)?),
        None => Ok(jiceng_domain::reporting::Month::of(time::OffsetDateTime::now_utc().date())),
    }
}

fn parse_date(text: &str) -> anyhow::Result<time::Date> {
    time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .with_context(|| format!("日期“{text}”应为 YYYY-MM-DD / date '{text}' must be YYYY-MM-DD"))
}

/// The server's settings: its data directory (given, else beside the SQLite file, else
/// the current folder), cookies, read limits and metrics, as resolved from flags, the
/// environment and the configuration file.
fn server_config(settings: &ops::config::Settings, default_file: &str) -> anyhow::Result<jiceng_server::ServerConfig> {
    let mut config =
        jiceng_server::ServerConfig::new(ops::check::data_dir(settings, default_file)).map_err(anyhow::Error::msg)?;
    config.secure_cookies = settings.secure_cookies.0;
    config.read_limits = settings.read_limits.0;
    config.metrics = settings.metrics_access()?;
    config.linkage = settings.linkage.0.clone();
    Ok(config)
}

async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("无法监听 {listen}（端口被占用？可用 --listen 换一个）/ cannot listen on {listen} (port in use? choose another with --listen)"))
}

async fn run(cli: Cli, settings: ops::config::Settings) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo { no_serve, population: Population { residents, county, seed }, fresh, listen } => {
            let county = county_code(&county)?;
            if fresh {
                if cli.db.database_url.is_some() {
                    anyhow::bail!("--fresh 只用于 SQLite 演示库 / --fresh only applies to the SQLite demo database");
                }
                let path = cli.db.db.clone().unwrap_or_else(|| PathBuf::from(DEMO_DB));
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    if file.exists() {
                        std::fs::remove_file(&file).with_context(|| format!("删除 / removing {}", file.display()))?;
                    }
                }
            }
            let store = cli.db.open(DEMO_DB).await?;
            let data_dir = server_config(&settings, DEMO_DB)?.data_dir;
            let options = demo::DemoOptions { county, residents, seed, data_dir };
            let (username, password) = demo::build(&store, &options).await?;
            if no_serve {
                store.close().await?;
                return Ok(ExitCode::SUCCESS);
            }
            let listener = bind(listen).await?;
            let address = listener.local_addr()?;
            println!();
            println!("  网址 URL:       http://{address}/");
            println!("  用户名 Username: {username}");
            println!("  密码 Password:   {password}");
            println!("  按 Ctrl-C 停止 / press Ctrl-C to stop");
            let state = AppState::new(store, server_config(&settings, DEMO_DB)?)?;
            jiceng_server::serve(state, listener).await?;
        }
        Command::Serve { .. } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            let state = AppState::new(store, server_config(&settings, DEFAULT_DB)?)?;
            let listener = bind(settings.listen.0).await?;
            println!("jiceng 已启动 listening on http://{}/", listener.local_addr()?);
            jiceng_server::serve(state, listener).await?;
        }
        Command::Regions { command: RegionsCommand::Load { county } } => {
            let counties = county.iter().map(|c| county_code(c)).collect::<anyhow::Result<Vec<_>>>()?;
            let store = cli.db.open(DEFAULT_DB).await?;
            let written = org::regions::load(&store, &counties).await?;
            println!("已载入 Loaded {written} divisions");
            store.close().await?;
        }
        Command::Generate { population: Population { residents, county, seed }, as_of, out } => {
            let date = match as_of {
                Some(text) => parse_date(&text)?,
                None => time::OffsetDateTime::now_utc().date(),
            };
            let plan = registry::generate::plan(&county_code(&county)?, residents, seed, date)?;
            let written = registry::generate::write_csv(plan, &out)?;
            println!("已写入 Wrote {written} residents to {}", out.display());
        }
        Command::Linkage { command: LinkageCommand::Generate { registry, incoming, seed, out } } => {
            let plan =
                jiceng_domain::linkage::synthetic::LinkagePlan { registry, incoming, seed, ..Default::default() };
            linkage::write_generated(&plan, &out)?;
        }
        Command::Linkage { command: LinkageCommand::Train { county, json, recorded_by } } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            let caller = jiceng_store::Caller::local(&recorded_by);
            linkage::feed::train(&store, &caller, &county, &settings.linkage.0, json).await?;
            store.close().await?;
        }
        Command::Feed { command } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            let mut exit = ExitCode::SUCCESS;
            match command {
                FeedCommand::Department {
                    command: DepartmentCommand::Add { code, name, kind, region, feeds, recorded_by },
                } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    linkage::feed::add_department(&store, &caller, &code, &name, &kind, &region, feeds.as_deref())
                        .await?;
                }
                FeedCommand::Department { command: DepartmentCommand::List { json } } => {
                    linkage::feed::list_departments(&store, json).await?;
                }
                FeedCommand::Token { command: TokenCommand::Create { department, county, label, recorded_by } } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    linkage::feed::create_token(&store, &caller, &department, county.as_deref(), &label).await?;
                }
                FeedCommand::Token { command: TokenCommand::List { department, county, json } } => {
                    linkage::feed::list_tokens(&store, &department, county.as_deref(), json).await?;
                }
                FeedCommand::Token { command: TokenCommand::Revoke { department, county, id, recorded_by } } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    linkage::feed::revoke_token(&store, &caller, &department, county.as_deref(), &id).await?;
                }
                FeedCommand::Import { department, kind, file, county, encoding, error_file, json, recorded_by } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    let args = linkage::feed::FeedImport {
                        department: &department,
                        county: county.as_deref(),
                        kind: &kind,
                        file: &file,
                        encoding: encoding.as_deref(),
                        error_file,
                        json,
                        settings: &settings.linkage.0,
                    };
                    if !linkage::feed::import(&store, &caller, args).await? {
                        exit = ExitCode::from(3);
                    }
                }
            }
            store.close().await?;
            return Ok(exit);
        }
        Command::Exchange { command: ExchangeCommand::Keygen { out, algorithm } } => {
            exchange::packages::keygen(&out, &algorithm)?;
        }
        Command::Exchange { command } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            let mut exit = ExitCode::SUCCESS;
            match command {
                ExchangeCommand::Keygen { .. } => {}
                ExchangeCommand::Partner {
                    command:
                        PartnerCommand::Add {
                            county,
                            key,
                            name,
                            local_county,
                            contact,
                            phone,
                            from,
                            until,
                            fields,
                            every_months,
                            recorded_by,
                        },
                } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    let args = exchange::packages::PartnerArgs {
                        county: &county,
                        key: &key,
                        name: &name,
                        local_county: local_county.as_deref(),
                        contact: &contact,
                        phone: &phone,
                        from: from.as_deref().map(parse_date).transpose()?,
                        until: until.as_deref().map(parse_date).transpose()?,
                        fields: &fields,
                        every_months,
                    };
                    exchange::packages::add_partner(&store, &caller, args).await?;
                }
                ExchangeCommand::Partner { command: PartnerCommand::List { json } } => {
                    exchange::packages::list_partners(&store, json).await?;
                }
                ExchangeCommand::Export { partner, key, since, out, local_county, json, recorded_by } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    let since = since.as_deref().map(parse_date).transpose()?;
                    let args = exchange::packages::ExportArgs {
                        partner: &partner,
                        local_county: local_county.as_deref(),
                        key: &key,
                        since,
                        out: &out,
                        json,
                    };
                    exchange::packages::export(&store, &caller, args).await?;
                }
                ExchangeCommand::Import { file, json, recorded_by } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    if !exchange::packages::import(&store, &caller, &file, &settings.linkage.0, json).await? {
                        exit = ExitCode::FAILURE;
                    }
                }
                ExchangeCommand::Reconcile { partner, local_county, out, json, recorded_by } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    exchange::packages::reconcile(
                        &store,
                        &caller,
                        &partner,
                        local_county.as_deref(),
                        out.as_deref(),
                        json,
                    )
                    .await?;
                }
                ExchangeCommand::Acknowledge { partner, key, package, out, local_county, recorded_by } => {
                    let caller = jiceng_store::Caller::local(&recorded_by);
                    exchange::packages::acknowledge(
                        &store,
                        &caller,
                        &partner,
                        local_county.as_deref(),
                        &key,
                        package.as_deref(),
                        &out,
                    )
                    .await?;
                }
            }
            store.close().await?;
            return Ok(exit);
        }
        Command::Bench { command: BenchCommand::Linkage { registry, incoming, truth, matches, json } } => {
            let run = move || linkage::bench::run(&registry, &incoming, &truth, matches.as_deref(), json);
            tokio::task::spawn_blocking(run).await??;
        }
        Command::Id { command: IdCommand::Check { json, ids } } => {
            let all_valid = registry::id_check::run(&ids, json)?;
            return Ok(if all_valid { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Audit { command: AuditCommand::Verify { expect_head } } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            let intact = org::audit::verify(&store, expect_head.as_deref()).await?;
            store.close().await?;
            return Ok(if intact { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Audit { command: AuditCommand::Anchor } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            org::audit::anchor(&store).await?;
            store.close().await?;
        }
        Command::User { command: UserCommand::Add { username, role, scope, display_name } } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            org::user::add(&store, &username, &role, &scope, display_name.as_deref()).await?;
            store.close().await?;
        }
        Command::Import {
            command: ImportCommand::Residents { file, encoding, mapping, error_file, json, chunk_rows, recorded_by },
        } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            let args =
                exchange::import::ImportArgs { file, encoding, mapping, error_file, json, chunk_rows, recorded_by };
            let all_landed = exchange::import::run(&store, &args).await?;
            store.close().await?;
            return Ok(if all_landed { ExitCode::SUCCESS } else { ExitCode::from(3) });
        }
        Command::Export { command: ExportCommand::Residents { node, format, encoding, out, recorded_by } } => {
            let node = DivisionCode::parse(&node).with_context(|| format!("--node {node}"))?;
            let format = match format {
                Some(name) => jiceng_store::exchange::FileFormat::from_name(&name)
                    .with_context(|| format!("--format {name}：应为 csv 或 xlsx / expected csv or xlsx"))?,
                None => jiceng_store::exchange::FileFormat::of_path(&out),
            };
            let encoding =
                exchange::import::encoding(Some(&encoding))?.unwrap_or(jiceng_store::exchange::TextEncoding::Utf8);
            let store = cli.db.open(DEFAULT_DB).await?;
            let written = exchange::export::run(&store, &node, format, encoding, &out, &recorded_by).await?;
            store.close().await?;
            println!("已导出 Exported {written} residents to {}", out.display());
        }
        Command::Verify { node, json } => {
            let node = node.map(|n| DivisionCode::parse(&n).with_context(|| format!("--node {n}"))).transpose()?;
            let store = cli.db.open(DEFAULT_DB).await?;
            let agree = verify::run(&store, node.as_ref(), json).await?;
            store.close().await?;
            return Ok(if agree { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Report { command: Some(ReportCommand::Verify { node, json }), .. } => {
            let nodes = node
                .iter()
                .map(|n| DivisionCode::parse(n).with_context(|| format!("--node {n}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let store = cli.db.open(DEFAULT_DB).await?;
            let agree = reporting::report::verify(&store, &nodes, json).await?;
            store.close().await?;
            return Ok(if agree { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Report { command: Some(ReportCommand::Deadlines { set }), .. } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            for pair in &set {
                let (step, days) = pair
                    .split_once('=')
                    .and_then(|(s, d)| d.trim().parse::<i64>().ok().map(|d| (s.trim(), d)))
                    .with_context(|| format!("--set {pair}：应为 步骤=天数 / expected STEP=DAYS"))?;
                store.reporting().set_deadline(step, days).await?;
            }
            let d = store.reporting().deadlines().await?;
            println!("report    {:>3} 天 days  上报（自发生之日）/ to report, from the day it happened", d.report_days);
            println!("community {:>3} 天 days  社区审核 / community review", d.community_days);
            println!("street    {:>3} 天 days  街道确认 / street confirmation", d.street_days);
            println!("district  {:>3} 天 days  区县接收 / district acceptance", d.district_days);
            store.close().await?;
        }
        Command::Report { command: None, node, period, format, out } => {
            let (Some(node), Some(period)) = (node, period) else {
                anyhow::bail!("需要 --node 和 --period / --node and --period are required");
            };
            let node = DivisionCode::parse(&node).with_context(|| format!("--node {node}"))?;
            let period = jiceng_domain::reporting::Period::parse(&period)?;
            let store = cli.db.open(DEFAULT_DB).await?;
            reporting::report::run(&store, &reporting::report::ReportArgs { node, period, format, out }).await?;
            store.close().await?;
        }
        Command::Tiers { command: TiersCommand::Reassess { county } } => {
            let county = county_code(&county)?;
            let store = cli.db.open(DEFAULT_DB).await?;
            let summary = fieldwork::tiers::reassess(&store, &county).await?;
            println!(
                "已评定 Assessed {} 居民 residents; {} 人等级变化 changed tier",
                summary.residents, summary.changed
            );
            store.close().await?;
        }
        Command::Tiers { command: TiersCommand::Rules { set, recorded_by } } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            fieldwork::tiers::rules(&store, set.as_deref(), &recorded_by).await?;
            store.close().await?;
        }
        Command::Plan { node, period, json } => {
            let node = DivisionCode::parse(&node).with_context(|| format!("--node {node}"))?;
            let month = month_or_this(period.as_deref())?;
            let store = cli.db.open(DEFAULT_DB).await?;
            fieldwork::plan::plan(&store, &node, month, json).await?;
            store.close().await?;
        }
        Command::Coverage { node, period, format, out } => {
            let node = DivisionCode::parse(&node).with_context(|| format!("--node {node}"))?;
            let month = month_or_this(period.as_deref())?;
            let store = cli.db.open(DEFAULT_DB).await?;
            fieldwork::plan::coverage(&store, &node, month, &format, out.as_deref()).await?;
            store.close().await?;
        }
        Command::Responsible { grid, community, street, user } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            fieldwork::plan::responsible(&store, grid.as_deref(), community.as_deref(), street.as_deref(), &user)
                .await?;
            store.close().await?;
        }
        Command::Backup { out } => {
            ops::backup::backup(&cli.db, DEFAULT_DB, &out).await?;
        }
        Command::Restore { file, force } => {
            let all_pass = ops::backup::restore(&cli.db, DEFAULT_DB, &file, force).await?;
            return Ok(if all_pass { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Db { command: DbCommand::Distribute { dry_run } } => {
            let store = cli.db.open(DEFAULT_DB).await?;
            ops::distribute::run(&store, dry_run).await?;
            store.close().await?;
        }
        Command::Config { command: ConfigCommand::Check { json } } => {
            let checks = ops::check::run(&settings, DEFAULT_DB).await;
            let fine = ops::check::print(&settings, DEFAULT_DB, &checks, json);
            return Ok(if fine { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Command::Bench { command: BenchCommand::Fieldwork { residents, county, keep, json } } => {
            let url = cli.db.database_url.as_deref();
            fieldwork::bench::run(residents, &county_code(&county)?, keep.as_deref(), url, json).await?;
        }
        Command::Bench { command: BenchCommand::Report { residents, county, verified_per_month, json } } => {
            let county = county_code(&county)?;
            reporting::bench::run(residents, &county, cli.db.database_url.as_deref(), verified_per_month, json).await?;
        }
        Command::Bench { command: BenchCommand::Search { residents, county, clients, rate, seconds, json } } => {
            let county = county_code(&county)?;
            let url = cli.db.database_url.as_deref();
            registry::bench::run(residents, &county, clients, &rate, seconds, url, json).await?;
        }
        Command::Bench { command: BenchCommand::Logins { attempts, json } } => {
            org::bench::run(attempts, cli.db.database_url.as_deref(), json).await?;
        }
        Command::Bench { command: BenchCommand::Exchange { records, residents, files_only, json } } => {
            exchange::package_bench::run(records, residents, files_only, cli.db.database_url.as_deref(), json).await?;
        }
        Command::Bench { command: BenchCommand::Import { residents, county, json } } => {
            let county = county_code(&county)?;
            exchange::bench::run(residents, &county, cli.db.database_url.as_deref(), json).await?;
        }
        Command::Bench { command: BenchCommand::Export { residents, county, json } } => {
            let county = county_code(&county)?;
            exchange::bench::export(residents, &county, cli.db.database_url.as_deref(), json).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the configuration file and works out every setting (flags, then the
/// environment, then the file, then defaults); the database of the file is filled into
/// the command's `--db` / `--database-url`.
fn settings(cli: &mut Cli) -> anyhow::Result<ops::config::Settings> {
    let loaded = ops::config::load(cli.config.as_deref())?;
    let serve = match &cli.command {
        Command::Serve { listen, secure_cookies, data_dir } => {
            ops::config::ServeFlags { listen: *listen, secure_cookies: *secure_cookies, data_dir: data_dir.clone() }
        }
        _ => ops::config::ServeFlags::default(),
    };
    let settings = ops::config::Settings::resolve(loaded, &cli.db, cli.log_format, &serve)?;
    cli.db = settings.db.clone();
    Ok(settings)
}

/// Log lines on standard error, as text or one JSON object a line. Spans carry no
/// arguments (ADR 013), so no line holds a name, an ID number or a phone.
fn init_logging(settings: &ops::config::Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_filter.0)
        .unwrap_or_else(|_| ops::config::DEFAULT_LOG_FILTER.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format.0 {
        ops::config::LogFormat::Text => builder.init(),
        ops::config::LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let settings = match settings(&mut cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("错误 error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            ExitCode::from(2)
        }
    }
}
