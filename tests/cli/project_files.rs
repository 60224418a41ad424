//! The committed files stay in step with the code: the JSON Schema, and `init`'s embedded copy
//! of the example.

use crate::support::{Project, Run};

#[test]
fn committed_schema_is_current() {
    let root = env!("CARGO_MANIFEST_DIR");
    let fresh = Run::new(std::path::Path::new(root))
        .args(&["schema"])
        .success()
        .stdout;
    let committed = std::fs::read_to_string(format!("{root}/project.schema.json")).unwrap();
    assert!(
        fresh == committed,
        "project.schema.json is stale: run `cargo run -- schema > project.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    assert!(schema["properties"]["pipelines"].is_object());
}

#[test]
fn init_writes_every_template_of_the_repository() {
    let p = Project::example();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["templates/views", "templates/macros"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let name = entry.unwrap().file_name();
            let rel = format!("{dir}/{}", name.to_string_lossy());
            assert_eq!(
                p.read(&rel),
                std::fs::read_to_string(root.join(&rel)).unwrap(),
                "{rel} differs"
            );
        }
    }
    assert_eq!(
        p.read("project.yaml"),
        std::fs::read_to_string(root.join("project.yaml")).unwrap()
    );
    // And refuses to overwrite.
    p.run()
        .args(&["init", "."])
        .code(2)
        .stderr_has(&["already exists", "--force"]);
    p.ok(&["validate"]);
}

#[test]
fn completions_are_generated() {
    let p = Project::example();
    let bash = p.ok(&["completions", "bash"]);
    assert!(bash.contains("bqflow") && bash.contains("generate"));
}

#[test]
fn the_readme_documents_every_template_function() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (call, _) in bqflow::sql::dialect::FUNCTIONS {
        let name = call.split('(').next().unwrap();
        assert!(
            readme.contains(&format!("`{name}(")),
            "README.md does not document `{call}`"
        );
    }
}
