//! Teardown deletes what this deployment made and nothing else: not a table a user added to
//! the warehouse, not while a `generate` is writing, and the demo never wipes data it did not
//! make. (Two gcp deployments of one spec: `gcp.rs`.)

use std::time::Duration;

use crate::support::Project;

fn open_warehouse(p: &Project) -> duckdb::Connection {
    duckdb::Connection::open(p.path().join(".bqflow/warehouse.duckdb")).unwrap()
}

#[test]
fn teardown_lists_by_kind_and_keeps_a_table_a_user_added() {
    let p = Project::example();
    p.ok(&["up"]);
    p.ok(&["generate", "--count", "1000", "--rate", "max"]);
    {
        let db = open_warehouse(&p);
        db.execute_batch(
            "CREATE TABLE retail_dw.analyst_notes (note VARCHAR);
             INSERT INTO retail_dw.analyst_notes VALUES ('keep me');
             CREATE TABLE main.scratch AS SELECT 42 AS answer;",
        )
        .unwrap();
    }
    // Without --yes and without a terminal: the list, by kind, and nothing deleted.
    let asked = p.run().args(&["teardown"]).code(2);
    for line in [
        "Teardown will delete from the local target",
        "tables, with their rows (10):",
        "retail_dw.sales_fact",
        "views (",
        "topic folders, with their events (2):",
        "and leave alone warehouse",
        "retail_dw.analyst_notes",
    ] {
        assert!(
            asked.stderr.contains(line),
            "no `{line}` in:\n{}",
            asked.stderr
        );
    }
    assert!(
        !asked.stderr.contains("the warehouse file"),
        "{}",
        asked.stderr
    );
    assert!(p.count("SELECT count(*) FROM sales_fact") > 0);

    let out = p.ok(&["teardown", "--yes"]);
    assert!(out.contains("deleted table retail_dw.sales_fact"), "{out}");
    assert!(out.contains("left alone warehouse"), "{out}");
    {
        let db = open_warehouse(&p);
        let note: String = db
            .query_row("SELECT note FROM retail_dw.analyst_notes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(note, "keep me");
        let left: i64 = db
            .query_row(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'retail_dw'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 1, "only the user's table stays in the dataset");
    }
    assert!(!p.path().join(".bqflow/topics/sales-events").exists());
    // Everything is planned afresh and comes back.
    let plan = p.run().args(&["plan"]).code(3).stdout;
    assert!(
        plan.contains("+ create        table retail_dw.sales_fact"),
        "{plan}"
    );
    p.ok(&["up"]);
    p.run().args(&["plan"]).code(0);
    assert_eq!(p.count("SELECT count(*) FROM sales_fact"), 0);
}

#[test]
fn teardown_refuses_while_generate_is_running() {
    let p = Project::example();
    p.ok(&["up"]);
    let mut generate = p.run().args(&["generate", "--rate", "200"]).spawn();
    generate.wait_for_stderr("Generating into", Duration::from_secs(60));
    p.run()
        .args(&["teardown", "--yes"])
        .code(2)
        .stderr_has(&["a `bqflow generate` is writing to"]);
    assert!(p.path().join(".bqflow/warehouse.duckdb").exists());
    let done = generate.interrupt();
    assert_eq!(done.code, 130, "{}", done.stderr);
    // Everything generate said it delivered is there: nothing was deleted under it.
    let sales = p.assert_exactly_once("sales_fact", "transaction_id");
    assert!(sales > 0);
    p.ok(&["teardown", "--yes"]);
}

#[test]
fn the_demo_never_wipes_data_it_did_not_make() {
    let p = Project::example();
    p.ok(&["up"]);
    p.ok(&["generate", "--count", "500", "--rate", "max"]);
    let before = p.count("SELECT count(*) FROM sales_fact");
    let refused = p.run().args(&["demo", "--duration", "1s"]).code(2);
    assert!(
        refused
            .stderr
            .contains("pass --keep to add to it, or --reset"),
        "{}",
        refused.stderr
    );
    assert_eq!(p.count("SELECT count(*) FROM sales_fact"), before);
    // --keep adds to it.
    p.ok(&["demo", "--duration", "1s", "--rows", "1", "--keep"]);
    assert!(p.count("SELECT count(*) FROM sales_fact") > before);
}
