//! `bqflow init DIR`: writes the Black Friday example — the same files as this repository's
//! `project.yaml` and `templates/`, embedded at build time.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::ui::Ui;

/// The example project, file by file (a test checks this covers every template).
pub const EXAMPLE: &[(&str, &str)] = &[
    ("project.yaml", include_str!("../../project.yaml")),
    (
        "project.schema.json",
        include_str!("../../project.schema.json"),
    ),
    (
        "templates/macros/dialect.sql",
        include_str!("../../templates/macros/dialect.sql"),
    ),
    (
        "templates/materialized_views/sales_by_minute.sql",
        include_str!("../../templates/materialized_views/sales_by_minute.sql"),
    ),
    (
        "templates/materialized_views/sales_by_store_hour.sql",
        include_str!("../../templates/materialized_views/sales_by_store_hour.sql"),
    ),
    (
        "templates/materialized_views/sales_by_store_product.sql",
        include_str!("../../templates/materialized_views/sales_by_store_product.sql"),
    ),
    (
        "templates/materialized_views/stock_by_store_product.sql",
        include_str!("../../templates/materialized_views/stock_by_store_product.sql"),
    ),
    (
        "templates/views/daily_sales.sql",
        include_str!("../../templates/views/daily_sales.sql"),
    ),
    (
        "templates/views/hourly_sales.sql",
        include_str!("../../templates/views/hourly_sales.sql"),
    ),
    (
        "templates/views/inventory_levels.sql",
        include_str!("../../templates/views/inventory_levels.sql"),
    ),
    (
        "templates/views/regional_sales.sql",
        include_str!("../../templates/views/regional_sales.sql"),
    ),
    (
        "templates/views/regional_hourly_sales.sql",
        include_str!("../../templates/views/regional_hourly_sales.sql"),
    ),
    (
        "templates/views/revenue_by_segment.sql",
        include_str!("../../templates/views/revenue_by_segment.sql"),
    ),
    (
        "templates/views/revenue_summary.sql",
        include_str!("../../templates/views/revenue_summary.sql"),
    ),
    (
        "templates/views/sales_by_local_hour.sql",
        include_str!("../../templates/views/sales_by_local_hour.sql"),
    ),
    (
        "templates/views/sell_through.sql",
        include_str!("../../templates/views/sell_through.sql"),
    ),
    (
        "templates/views/store_performance.sql",
        include_str!("../../templates/views/store_performance.sql"),
    ),
    (
        "templates/views/top_categories.sql",
        include_str!("../../templates/views/top_categories.sql"),
    ),
    (
        "templates/views/top_products.sql",
        include_str!("../../templates/views/top_products.sql"),
    ),
];

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Folder to write into (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

pub fn run(ui: &Ui, args: InitArgs) -> Result<u8> {
    if !args.force {
        let existing: Vec<String> = EXAMPLE
            .iter()
            .map(|(path, _)| args.dir.join(path))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(Error::usage(format!(
                "{} already exists; pass --force to overwrite, or choose another folder",
                existing.join(", ")
            )));
        }
    }
    for (path, content) in EXAMPLE {
        let target = args.dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&target, content)
            .map_err(|e| Error::usage(format!("cannot write {}: {e}", target.display())))?;
    }
    println!(
        "Wrote the Black Friday example ({} files) to {}",
        EXAMPLE.len(),
        args.dir.display()
    );
    ui.note(format!(
        "Next: cd {} && bqflow validate && bqflow up && bqflow generate --count 10000 && bqflow query top-products",
        args.dir.display()
    ));
    Ok(0)
}
