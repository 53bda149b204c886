//! The README's configuration examples are real: the first JSON example must load, and the bad one must be
//! rejected with exactly the errors the README prints, so the docs cannot drift from the parser (R12, P3).

use routewise::engine::Engine;

fn json_blocks() -> Vec<String> {
    let readme = include_str!("../../README.md");
    readme
        .split("```json\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next().map(str::to_string))
        .collect()
}

#[test]
fn readme_example_config_is_valid() {
    let blocks = json_blocks();
    let example = blocks.first().expect("the README has a JSON config example");
    if let Err(errors) = Engine::from_json(example) {
        panic!("README example config is rejected:\n{errors}");
    }
}

#[test]
fn readme_bad_config_lists_the_errors_it_shows() {
    let readme = include_str!("../../README.md");
    let blocks = json_blocks();
    let bad = blocks.get(1).expect("the README has a bad config example");
    let errors = match Engine::from_json(bad) {
        Ok(_) => panic!("the README's bad config must be rejected"),
        Err(errors) => errors,
    };
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    for line in &lines {
        assert!(
            readme.contains(line.as_str()),
            "README does not show the error line: {line}"
        );
    }
}
