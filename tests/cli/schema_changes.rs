//! A table's columns change in the spec after it holds rows: order never matters (rows are
//! written by column name), a new NULLABLE column is added in place, and any other change is
//! refused at `plan`/`up` with the exact difference — while the events wait in the topic,
//! unloaded, until the table fits again. Nothing swapped, nothing lost.

use crate::support::Project;

const SALES_COLUMNS: &str = "      - { name: product_id, type: STRING, mode: REQUIRED }
      - { name: timestamp, type: TIMESTAMP, mode: REQUIRED }
      - { name: quantity, type: INT64, mode: REQUIRED }
      - { name: unit_price, type: NUMERIC, precision: 18, scale: 2, mode: REQUIRED }
      - { name: store_id, type: STRING, mode: REQUIRED }
";

fn generate(p: &Project, events: &str) -> crate::support::Run {
    p.run().args(&[
        "generate",
        "--count",
        events,
        "--rate",
        "max",
        "--clock",
        "simulated",
    ])
}

#[test]
fn swapping_two_columns_in_the_spec_swaps_no_values() {
    let p = Project::example();
    p.ok(&["up"]);
    // store_id and product_id trade places in the spec; the table keeps its order.
    p.edit(
        "project.yaml",
        SALES_COLUMNS,
        &SALES_COLUMNS
            .replace("name: product_id", "name: SWAP")
            .replace("name: store_id", "name: product_id")
            .replace("name: SWAP", "name: store_id"),
    );
    let plan = p.run().args(&["plan"]).code(0).stdout;
    assert!(
        plan.contains("= unchanged     table retail_dw.sales_fact"),
        "{plan}"
    );
    generate(&p, "5000").success();
    let sales = p.count("SELECT count(*) FROM sales_fact");
    assert!(sales > 0);
    let misplaced = p.count(
        "SELECT count(*) FROM sales_fact
         WHERE product_id NOT IN (SELECT product_id FROM products_dim)
            OR store_id NOT IN (SELECT store_id FROM stores_dim)",
    );
    assert_eq!(misplaced, 0, "values landed in the wrong column");
}

#[test]
fn a_new_nullable_column_is_added_in_place_wherever_it_is_declared() {
    let p = Project::example();
    p.ok(&["up"]);
    generate(&p, "2000").success();
    let before = p.count("SELECT count(*) FROM sales_fact");
    p.edit(
        "project.yaml",
        "      - { name: quantity, type: INT64, mode: REQUIRED }\n      - { name: unit_price",
        "      - { name: quantity, type: INT64, mode: REQUIRED }\n      - { name: coupon, type: STRING }\n      - { name: unit_price",
    );
    let plan = p.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("~ update        table retail_dw.sales_fact")
            && plan.contains("column: (none) → coupon STRING"),
        "{plan}"
    );
    let out = p.ok(&["up"]);
    assert!(out.contains("added columns coupon"), "{out}");
    p.run().args(&["plan"]).code(0);
    generate(&p, "2000").success();
    let after = p.count("SELECT count(*) FROM sales_fact WHERE coupon IS NULL");
    assert!(
        after > before,
        "later events did not load after the column was added"
    );
    let bad = p.count("SELECT count(*) FROM sales_fact WHERE product_id NOT IN (SELECT product_id FROM products_dim)",
    );
    assert_eq!(bad, 0, "values landed in the wrong column");
}

#[test]
fn a_changed_type_is_refused_and_its_events_wait_until_the_spec_fits_again() {
    let p = Project::example();
    p.ok(&["up"]);
    let original = p.read("project.yaml");
    p.edit(
        "project.yaml",
        "{ name: quantity, type: INT64, mode: REQUIRED }",
        "{ name: quantity, type: FLOAT64, mode: REQUIRED }",
    );
    let plan = p.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("! cannot change table retail_dw.sales_fact")
            && plan.contains("column: quantity INT64 REQUIRED → quantity FLOAT64 REQUIRED")
            && plan.contains("can only gain NULLABLE columns"),
        "{plan}"
    );
    let up = p.run().args(&["up"]).code(1);
    assert!(
        up.stderr.contains("cannot be applied in place"),
        "{}",
        up.stderr
    );

    // `generate` stops at the first load rather than write into the old shape.
    let run = generate(&p, "3000").output();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`quantity` is INT64 in the table but FLOAT64 in the spec"),
        "{}",
        run.stderr
    );
    // A reader still answers, says why the facts are behind, and loads nothing into them.
    let q = p
        .run()
        .args(&[
            "query",
            "--format",
            "csv",
            "--sql",
            "SELECT count(*) FROM sales_fact",
        ])
        .success();
    assert_eq!(q.stdout.lines().nth(1), Some("0"), "{}", q.stdout);
    assert!(q.stderr.contains("no longer fits the spec"), "{}", q.stderr);

    // Back to the old spec: every waiting event lands, once, none missing in between.
    p.write("project.yaml", &original);
    let sales = p.assert_exactly_once("sales_fact", "transaction_id");
    assert!(sales > 0, "the waiting sales events did not load");
}

#[test]
fn a_removed_column_is_refused_at_up_and_later_rows_leave_it_empty() {
    let p = Project::example();
    let original = p.read("project.yaml");
    p.edit(
        "project.yaml",
        "      - { name: reason, type: STRING, mode: REQUIRED, description: \"opening | sale | restock | stockout\" }\n",
        "      - { name: reason, type: STRING, mode: REQUIRED, description: \"opening | sale | restock | stockout\" }\n      - { name: note, type: STRING }\n",
    );
    p.ok(&["up"]);
    p.write("project.yaml", &original);
    let plan = p.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("! cannot change table retail_dw.inventory_fact")
            && plan.contains("column: note STRING → (none)"),
        "{plan}"
    );
    let up = p.run().args(&["up"]).code(1);
    assert!(
        up.stderr.contains("column: note STRING → (none)"),
        "{}",
        up.stderr
    );
    // The table keeps the column; rows written without it leave it NULL, as BigQuery does.
    generate(&p, "2000").success();
    let inventory = p.assert_exactly_once("inventory_fact", "event_id");
    assert!(inventory > 0);
    assert_eq!(p.count("SELECT count(note) FROM inventory_fact"), 0);
}

/// `plan` compares the spec with the warehouse as it is, not with what bqflow recorded.
#[test]
fn plan_sees_a_table_altered_outside_bqflow() {
    let p = Project::example();
    p.ok(&["up"]);
    {
        let db = duckdb::Connection::open(p.path().join(".bqflow/warehouse.duckdb")).unwrap();
        db.execute_batch("ALTER TABLE retail_dw.stores_dim ADD COLUMN regional_note VARCHAR")
            .unwrap();
    }
    let plan = p.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("! cannot change table retail_dw.stores_dim")
            && plan.contains("column: regional_note STRING → (none)"),
        "{plan}"
    );
}
