//! The three record types and what the store needs to know about each.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::rfc3339::{Date, Millis, year_of};

/// Shared immutable text: seeded records share vocabulary strings and referenced ids
/// instead of each holding its own copy, which matters at a million records.
pub type Text = Arc<str>;

/// One of the three record collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// `locations`, ids `LOC-00001`.
    Locations,
    /// `assets`, ids `AST-000001`.
    Assets,
    /// `work-orders`, ids `WO-0000001`.
    WorkOrders,
}

impl ModelKind {
    /// All kinds, in seeding order (work orders refer to assets, assets to locations).
    pub const ALL: [ModelKind; 3] = [
        ModelKind::Locations,
        ModelKind::Assets,
        ModelKind::WorkOrders,
    ];

    /// The kind named by a URL path segment (`work-orders`, `assets`, `locations`).
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "locations" => Some(ModelKind::Locations),
            "assets" => Some(ModelKind::Assets),
            "work-orders" => Some(ModelKind::WorkOrders),
            _ => None,
        }
    }

    /// The URL path segment of this kind.
    pub fn path(self) -> &'static str {
        match self {
            ModelKind::Locations => "locations",
            ModelKind::Assets => "assets",
            ModelKind::WorkOrders => "work-orders",
        }
    }

    /// The prefix of generated ids.
    pub fn id_prefix(self) -> &'static str {
        match self {
            ModelKind::Locations => "LOC",
            ModelKind::Assets => "AST",
            ModelKind::WorkOrders => "WO",
        }
    }

    /// The minimum number of digits of generated ids; more are used when the count
    /// needs them, so that string order of ids stays numeric order.
    pub fn id_digits(self) -> usize {
        match self {
            ModelKind::Locations => 5,
            ModelKind::Assets => 6,
            ModelKind::WorkOrders => 7,
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// What an admin-created record defaults to besides its id and timestamps.
#[derive(Debug, Clone)]
pub struct TemplateContext {
    /// Where new assets and work orders are placed: the first location by id, or "".
    pub default_location_id: Text,
    /// 1-based position of the new record in its collection (for work order numbers).
    pub ordinal: u64,
}

/// A record of one model: the fields the store indexes and maintains.
pub trait Record:
    Clone + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Which collection the type lives in.
    const KIND: ModelKind;
    /// The record's id.
    fn id(&self) -> &Text;
    /// Last modification time.
    fn updated_at(&self) -> Millis;
    /// Sets the last modification time.
    fn set_updated_at(&mut self, t: Millis);
    /// Soft-delete time, if deleted.
    fn deleted_at(&self) -> Option<Millis>;
    /// Sets or clears the soft-delete time.
    fn set_deleted_at(&mut self, t: Option<Millis>);
    /// A complete record of defaults that a partial admin-created record is merged over.
    fn template(id: Text, now: Millis, ctx: &TemplateContext) -> Self;
}

macro_rules! record_accessors {
    () => {
        fn id(&self) -> &Text {
            &self.id
        }
        fn updated_at(&self) -> Millis {
            self.updated_at
        }
        fn set_updated_at(&mut self, t: Millis) {
            self.updated_at = t;
        }
        fn deleted_at(&self) -> Option<Millis> {
            self.deleted_at
        }
        fn set_deleted_at(&mut self, t: Option<Millis>) {
            self.deleted_at = t;
        }
    };
}

/// Level of a location in the site hierarchy.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationType {
    Site,
    Building,
    Floor,
    Area,
    Room,
}

/// A place in the site → building → floor → area → room hierarchy.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub id: Text,
    pub code: Text,
    pub name: Text,
    #[serde(rename = "type")]
    pub kind: LocationType,
    pub parent_id: Option<Text>,
    pub address: Option<Text>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub deleted_at: Option<Millis>,
}

impl Record for Location {
    const KIND: ModelKind = ModelKind::Locations;
    record_accessors!();

    fn template(id: Text, now: Millis, _ctx: &TemplateContext) -> Self {
        Location {
            code: id.clone(),
            id,
            name: "New location".into(),
            kind: LocationType::Site,
            parent_id: None,
            address: None,
            latitude: None,
            longitude: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}

/// Kind of equipment.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetCategory {
    Pump,
    Motor,
    Conveyor,
    Compressor,
    Hvac,
    Boiler,
    Generator,
    Valve,
    Sensor,
    Vehicle,
}

/// Operating state of an asset.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    Operational,
    Down,
    Maintenance,
    Retired,
}

/// How much a failure of the asset hurts.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Low,
    Medium,
    High,
}

/// A piece of equipment.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    pub id: Text,
    pub asset_tag: Text,
    pub name: Text,
    pub category: AssetCategory,
    pub manufacturer: Text,
    pub model: Text,
    pub serial_number: Text,
    pub status: AssetStatus,
    pub criticality: Criticality,
    pub location_id: Text,
    pub parent_asset_id: Option<Text>,
    pub install_date: Date,
    pub purchase_cost: f64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub deleted_at: Option<Millis>,
}

impl Record for Asset {
    const KIND: ModelKind = ModelKind::Assets;
    record_accessors!();

    fn template(id: Text, now: Millis, ctx: &TemplateContext) -> Self {
        Asset {
            asset_tag: id.clone(),
            id,
            name: "New asset".into(),
            category: AssetCategory::Pump,
            manufacturer: "Unknown".into(),
            model: "Unknown".into(),
            serial_number: "".into(),
            status: AssetStatus::Operational,
            criticality: Criticality::Medium,
            location_id: ctx.default_location_id.clone(),
            parent_asset_id: None,
            install_date: Date::of(now),
            purchase_cost: 0.0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}

/// Work order state.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderStatus {
    Open,
    InProgress,
    OnHold,
    Completed,
    Cancelled,
}

/// Work order urgency.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

/// Why the work is done.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderType {
    Corrective,
    Preventive,
    Inspection,
    Emergency,
}

/// A job to be done on an asset or at a location.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrder {
    pub id: Text,
    pub number: Text,
    pub title: Text,
    pub description: Text,
    pub status: WorkOrderStatus,
    pub priority: Priority,
    #[serde(rename = "type")]
    pub kind: WorkOrderType,
    pub asset_id: Option<Text>,
    pub location_id: Text,
    pub assigned_to: Option<Text>,
    pub requested_by: Text,
    pub due_date: Option<Millis>,
    pub completed_at: Option<Millis>,
    pub estimated_hours: f64,
    pub actual_hours: Option<f64>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub deleted_at: Option<Millis>,
}

impl Record for WorkOrder {
    const KIND: ModelKind = ModelKind::WorkOrders;
    record_accessors!();

    fn template(id: Text, now: Millis, ctx: &TemplateContext) -> Self {
        WorkOrder {
            id,
            number: format!("WO-{}-{:06}", year_of(now.0), ctx.ordinal).into(),
            title: "New work order".into(),
            description: "".into(),
            status: WorkOrderStatus::Open,
            priority: Priority::Medium,
            kind: WorkOrderType::Corrective,
            asset_id: None,
            location_id: ctx.default_location_id.clone(),
            assigned_to: None,
            requested_by: "admin".into(),
            due_date: None,
            completed_at: None,
            estimated_hours: 1.0,
            actual_hours: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}
