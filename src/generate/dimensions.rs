//! The dimension rows (`stores_dim`, `products_dim`) as JSON messages. The local target loads
//! them through the loader's strict parser, like events; gcp turns them into `DELETE` and
//! `INSERT … VALUES` statements (`backend/gcp/resources.rs`).

use serde_json::json;

use super::Model;
use crate::spec::types::DimensionSource;

fn money(cents: i64) -> serde_json::Value {
    // Two decimals exactly; parsers scale to the column's NUMERIC scale without float drift.
    serde_json::from_str(&format!(
        "{}{}.{:02}",
        if cents < 0 { "-" } else { "" },
        cents.abs() / 100,
        cents.abs() % 100
    ))
    .expect("a decimal literal is JSON")
}

pub fn rows(model: &Model, source: DimensionSource) -> Vec<serde_json::Value> {
    match source {
        DimensionSource::GeneratorStores => model
            .stores()
            .iter()
            .map(|s| {
                json!({
                    "store_id": s.store_id, "location": s.location, "region": s.region,
                    "timezone": s.timezone, "utc_offset_minutes": s.utc_offset_minutes,
                    "size": s.size, "manager": s.manager, "opening_hour": s.opening_hour,
                })
            })
            .collect(),
        DimensionSource::GeneratorProducts => model
            .products()
            .iter()
            .map(|p| {
                json!({
                    "product_id": p.product_id, "name": p.name, "category": p.category,
                    "subcategory": p.subcategory, "price": money(p.price_cents),
                    "supplier_id": p.supplier_id, "is_doorbuster": p.is_doorbuster,
                })
            })
            .collect(),
    }
}

pub fn messages(model: &Model, source: DimensionSource) -> Vec<String> {
    rows(model, source).iter().map(|r| r.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{ModelConfig, schema};

    #[test]
    fn rows_carry_exactly_the_declared_fields() {
        let model = Model::new(&ModelConfig {
            stores: 3,
            products: 12,
            ..ModelConfig::default()
        });
        for (source, fields, count) in [
            (DimensionSource::GeneratorStores, schema::STORE, 3),
            (DimensionSource::GeneratorProducts, schema::PRODUCT, 12),
        ] {
            let rows = rows(&model, source);
            assert_eq!(rows.len(), count);
            let keys: Vec<&str> = rows[0]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut expected: Vec<&str> = fields.iter().map(|f| f.name).collect();
            expected.sort();
            assert_eq!(keys, expected);
        }
        // Free text with quotes (inch marks) survives as data.
        let catalogue = Model::new(&ModelConfig::default());
        let tv = catalogue
            .products()
            .iter()
            .find(|p| p.name.contains('"'))
            .expect("an inch mark");
        let row = messages(&catalogue, DimensionSource::GeneratorProducts)
            .into_iter()
            .find(|m| m.contains(&tv.product_id))
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&row).unwrap();
        assert_eq!(parsed["name"], tv.name.as_str());
        assert_eq!(money(19999), json!(199.99));
        assert_eq!(money(-5), json!(-0.05));
    }
}
