//! 四不漏 coverage as read: for a node and a month, how many buildings, floors,
//! households and residents were reached, by grid, community and street, and what a
//! community did not reach — each with who answers for it (五定).

use uuid::Uuid;

/// Counts reached and to reach, for one grid, community, street or the whole node.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoverageCounts {
    pub buildings: u64,
    pub buildings_walked: u64,
    pub floors: u64,
    pub floors_walked: u64,
    pub households: u64,
    pub households_covered: u64,
    pub residents: u64,
    pub residents_verified: u64,
}

impl CoverageCounts {
    /// Share of residents verified, in percent (`None` when there is nobody).
    pub fn resident_share(&self) -> Option<f64> {
        (self.residents > 0).then(|| self.residents_verified as f64 / self.residents as f64 * 100.0)
    }
    pub fn household_share(&self) -> Option<f64> {
        (self.households > 0).then(|| self.households_covered as f64 / self.households as f64 * 100.0)
    }
    /// Adds another area's counts (a street's from its communities).
    pub fn add(&mut self, o: &CoverageCounts) {
        self.buildings += o.buildings;
        self.buildings_walked += o.buildings_walked;
        self.floors += o.floors;
        self.floors_walked += o.floors_walked;
        self.households += o.households;
        self.households_covered += o.households_covered;
        self.residents += o.residents;
        self.residents_verified += o.residents_verified;
    }
}

/// One grid's coverage and who answers for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GridCoverage {
    pub grid_id: Uuid,
    pub community: String,
    pub name: String,
    /// 五定: the worker responsible for the grid (`None`: nobody — flagged).
    pub responsible: Option<String>,
    pub counts: CoverageCounts,
}

/// A node's coverage for a month.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Coverage {
    pub node: String,
    pub month: String,
    pub totals: CoverageCounts,
    /// Grids, best covered first (the ranking).
    pub grids: Vec<GridCoverage>,
    /// Communities and streets under the node with their summed counts and responsible worker.
    pub communities: Vec<(String, Option<String>, CoverageCounts)>,
    pub streets: Vec<(String, Option<String>, CoverageCounts)>,
}

/// A floor nobody walked in the month.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FloorGap {
    pub grid: String,
    pub building: String,
    /// No floor of the building was walked.
    pub building_not_walked: bool,
    pub floor_no: i16,
    pub households: u64,
    pub residents: u64,
    /// 五定: the building's worker, else the grid's, else the community's.
    pub responsible: Option<String>,
}

/// A household not reached in the month (not visited, no member verified).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HouseholdGap {
    pub household_id: Uuid,
    pub household_no: String,
    pub grid: String,
    pub building: String,
    pub unit_no: i16,
    pub floor_no: i16,
    pub room_no: String,
    pub residents: u64,
    pub responsible: Option<String>,
}

/// What a community did not reach in a month, with who answers for each (四不漏).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoverageGaps {
    pub floors: Vec<FloorGap>,
    pub households: Vec<HouseholdGap>,
    /// Residents not verified in the month (in the households above and elsewhere).
    pub residents_not_verified: u64,
}
